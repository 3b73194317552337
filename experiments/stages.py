"""Execute one stage job; a completion marker makes finished stages skip on re-runs.

The marker (<out_dir>/.vlmdata-stage.json) is written last, after the stage's own outputs,
and names the job's key: a directory without it is unfinished, and re-running its job resumes
(training from its last checkpoint, evaluation from its finished tasks), which the stage's
command allows only for the same config (curation.data.outdir's run records). A job holds its
directory's lock while it runs.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from configs.compose import compose_node
from curation.data.device import job_device, reset_device_watch
from curation.data.fileio import atomic_write_json, remove_stale_tmp
from curation.data.outdir import output_lock
from experiments.plan import Job
from training.wandb_env import pin_service_tmpdir

MARKER = ".vlmdata-stage.json"
# What the executors keep in a stage's directory beside its outputs (executors.local.stage_log).
STAGE_FILES = (MARKER, "stage.log")


def marker(job: Job) -> Path:
    return Path(job.out_dir) / MARKER


def is_done(job: Job) -> bool:
    path = marker(job)
    if not path.is_file():
        return False
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("key") == job.key
    except (OSError, json.JSONDecodeError):
        return False


def read_marker(job: Job) -> dict[str, Any] | None:
    return json.loads(marker(job).read_text(encoding="utf-8")) if is_done(job) else None


def execute(job: Job) -> dict[str, Any]:
    """Run `job` unless its marker says it is finished; return the marker.

    The job's directory is locked while it runs (a second executor of the same job fails at
    once); the stage's own command then keeps it to outputs of this job's config.
    """
    if is_done(job):
        return read_marker(job) or {}
    with output_lock(job.out_dir) as locked_at:
        if is_done(job):  # finished by another executor between the check and the lock
            return read_marker(job) or {}
        out_dir = Path(job.out_dir)
        remove_stale_tmp(out_dir.resolve().parent, before=locked_at, name=out_dir.name)
        return _execute(job)


def _execute(job: Job) -> dict[str, Any]:
    use_store_tmp(job)
    started = _now()
    reset_device_watch()
    clock = time.perf_counter()
    summary = RUNNERS[job.stage](job)
    seconds = round(time.perf_counter() - clock, 3)
    done = {
        "stage": job.stage,
        "key": job.key,
        "label": job.label,
        "started": started,
        "finished": _now(),
        "seconds": seconds,  # wall time of the job (a selection cost: experiments.costs)
        "device": job_device(),
        "host": socket.gethostname(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "summary": summary,
    }
    atomic_write_json(marker(job), done)
    return done


def use_store_tmp(job: Job) -> None:
    """Send this process's temporary files to <store>/tmp (stage dirs are <store>/<stage>/<key>).

    W&B's service keeps sockets and media staging folders in the temp dir and leaves them
    behind when a stage is killed; this keeps them with the sweep's outputs. It must happen
    before wandb is imported: its service and staging folders read TMPDIR once.
    """
    tmp = Path(pin_service_tmpdir(Path(job.out_dir).resolve().parent.parent / "tmp"))
    if os.environ.get("TMPDIR") == str(tmp):
        return
    tmp.mkdir(parents=True, exist_ok=True)
    os.environ["TMPDIR"] = str(tmp)
    tempfile.tempdir = None  # re-read TMPDIR on the next tempfile call


def _pool(job: Job) -> dict[str, Any]:
    from toyworld.config import as_toyworld_config
    from toyworld.make import make_world

    world = make_world(as_toyworld_config(job.spec["toyworld"]), progress=job.spec["progress"])
    return {"world": str(world)}


def _decontaminate(job: Job) -> dict[str, Any]:
    """Write the pool without its leaks of the suite (experiments.plan.decontaminate_job)."""
    from experiments.plan import run_decontaminate

    return run_decontaminate(job.spec, job.out_dir, ignore=STAGE_FILES)


def _foundation(job: Job) -> dict[str, Any]:
    """Make the world's foundation models (experiments.plan.foundation_job)."""
    from training.foundation.build import build_foundation, read_manifest
    from training.foundation.recipe import as_recipe

    folder = build_foundation(
        job.spec["toyworld"],
        as_recipe(job.spec["recipe"]),
        job.out_dir,
        progress=job.spec["progress"],
        ignore=STAGE_FILES,
    )
    manifest = read_manifest(folder)
    return {"checks": manifest["checks"], "seconds": manifest["seconds"]}


# torch threads while the tiny reference trains: a ~150K-parameter model gains nothing from more,
# and on a busy 2-core machine 2 threads made each step 11x slower (2.2 s vs 0.19 s at batch 16)
REFERENCE_THREADS = 1


def _reference(job: Job) -> dict[str, Any]:
    """Train the tiny reference LVLM on the pool (experiments.plan.reference_job)."""
    from curation.data.threads import torch_threads
    from training.config import TrainingConfig
    from training.train import train

    cfg = compose_node(TrainingConfig, job.spec["training"], "training")
    with torch_threads(REFERENCE_THREADS):
        result = train(cfg, ignore=STAGE_FILES)
    if result.export_dir is None:
        raise RuntimeError(f"training the tiny reference in {job.out_dir} exported no checkpoint")
    keep = ("global_step", "final_loss", "seconds")
    return {"checkpoint": str(result.export_dir)} | {
        k: result.summary[k] for k in keep if k in result.summary
    }


def build_method(name: str, params: Any, checkpoint: str = "") -> Any:
    """The curation method, handed the trained reference's checkpoint when the plan made one."""
    from curation.registry import build_method as build

    method = build(name, params)
    if checkpoint:
        method.use_checkpoint(checkpoint)
    return method


def _features(job: Job) -> dict[str, Any]:
    from curation.run import prepare_features

    spec = job.spec
    return prepare_features(
        build_method(spec["method"], spec["params"], spec.get("reference_checkpoint", "")),
        pool_path=spec["pool"],
        image_root=spec["image_root"] or None,
        cache_root=spec["cache_dir"],
        out_dir=job.out_dir,
        shard=spec["shard"],
        num_shards=spec["num_shards"],
        on_error=spec["on_error"],
        progress=spec["progress"],
        rules=_record_rules(spec),
    )


def _curate(job: Job) -> dict[str, Any]:
    from curation.config import CurationConfig
    from curation.run import curate
    from experiments.tracking import curate_tracking

    spec = job.spec
    cfg = compose_node(CurationConfig, spec["curation"], "curation")
    subset = curate(
        build_method(cfg.method, spec["curation"]["params"], spec.get("reference_checkpoint", "")),
        pool_path=spec["pool"],
        image_root=spec["image_root"] or None,
        budget=cfg.budget,
        seed=cfg.seed,
        out_dir=job.out_dir,
        cache_root=spec["cache_dir"],
        config=spec["curation"],
        on_error=spec["on_error"],
        progress=spec["progress"],
        rules=_record_rules(spec),
    )
    curate_tracking(job, subset)
    return {"counts": subset.manifest["counts"], "timings_s": subset.manifest["timings_s"]}


def _record_rules(spec: dict[str, Any]) -> Any:
    from curation.data.limits import RecordLimits
    from curation.data.records import RecordRules

    return RecordRules(spec["image_paths"], RecordLimits(**spec["limits"]))


def _train(job: Job) -> dict[str, Any]:
    from training.config import TrainingConfig
    from training.train import train

    cfg = compose_node(TrainingConfig, job.spec["training"], "training")
    result = train(cfg, ignore=STAGE_FILES)
    keep = ("global_step", "final_loss", "first_loss", "seconds", "samples_per_second")
    return {k: result.summary[k] for k in keep if k in result.summary}


def _eval(job: Job) -> dict[str, Any]:
    from evaluation.config import EvalConfig
    from evaluation.run import run_eval

    cfg = compose_node(EvalConfig, job.spec["evaluation"], "evaluation")
    run = run_eval(cfg, ignore=STAGE_FILES)
    return {"evaluated": run.evaluated, "reused": run.reused}


RUNNERS = {
    "pool": _pool,
    "decontaminate": _decontaminate,
    "foundation": _foundation,
    "reference": _reference,
    "features": _features,
    "curate": _curate,
    "train": _train,
    "eval": _eval,
}


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")
