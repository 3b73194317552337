"""Score one exported checkpoint on one suite with lmms-eval, from Python.

    run_eval(cfg) -> EvalRun

Everything that can be wrong with the inputs (checkpoint, task names, data, judge) is
checked before the model loads. The model loads once and serves every task; each task is
one `simple_evaluate` call whose outputs land in <run>/lmms_eval/<task>/ atomically, with
a key over everything that decides its result, so a re-run keeps the finished tasks.

    <run>/.vlmdata-run.json  which config's run this is (curation.data.outdir; written first)
    <run>/config.yaml        resolved EvalConfig
    <run>/tasks/             the task YAMLs lmms-eval ran (see evaluation.materialize)
    <run>/lmms_eval/<task>/  lmms-eval's <date>_results.json, <date>_samples_<task>.jsonl,
                             submissions/, and task.json (our entry + key)
    <run>/scores.json        see evaluation.scores;  <run>/scores.md: the same as a table

`blind=true` (a control) shows the model grey images instead of the benchmark's: it is part of
the run's identity and of every task's key, so a blind run never shares a run directory or a
cached task with a real one (its default out_dir is <suite>-blind).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import importlib.metadata
import json
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from configs.compose import resolved_dict
from curation.data.fileio import (
    atomic_directory,
    atomic_write_json,
    atomic_write_text,
    save_resolved,
    sha256_json,
)
from curation.data.outdir import check_run, claim_output, discard, has_run, write_run
from curation.data.threads import torch_threads
from evaluation.aggregate import load_scores, reference_summary, run_table
from evaluation.checkpoint import check_checkpoint, checkpoint_fingerprint
from evaluation.config import EvalConfig, TaskSpec
from evaluation.errors import EvalError
from evaluation.materialize import RunTask, materialize
from evaluation.scores import SCHEMA_VERSION, task_entry
from evaluation.suites import check_tasks, selected_tasks
from evaluation.wandb_log import log_scores

DEFAULT_OUT_ROOT = Path("outputs/eval")
JUDGE_KEYS = {"openai": "OPENAI_API_KEY", "azure": "AZURE_API_KEY"}
RUN_KIND = "evaluation run"
LMMS_MODEL_NAME = "llava"  # whose prompt options a task gives the model (task_manager)
TASKS, LMMS_EVAL = "tasks", "lmms_eval"
RUN_FILES = (TASKS, LMMS_EVAL, "scores.json", "scores.md", "config.yaml", "wandb")
# Keys that may differ between runs in one run directory. The run directory belongs to one
# checkpoint (keyed by content) on one suite and data root; within it each task's own key
# (_task_key: limit, gen_kwargs, model settings, the task's YAML, spec and data files, judge)
# decides whether its result is reused, so those may change and re-run the tasks they touch.
RESUME_MAY_CHANGE = (
    "checkpoint",
    "out_dir",
    "resume",
    "reference",
    "wandb",
    "only",
    "limit",
    "gen_kwargs",
    "model",
    "tasks",
    "judge",
)


@dataclass(frozen=True)
class EvalRun:
    run_dir: Path
    scores: dict[str, Any]
    evaluated: list[str]  # tasks run now
    reused: list[str]  # tasks kept from an earlier run with the same key
    wandb_run: str | None


def run_eval(cfg: EvalConfig, force: bool = False, ignore: Sequence[str] = ()) -> EvalRun:
    """Score cfg.checkpoint on the suite into the run directory (locked while it runs).

    The run directory holds a run of the same identity (run_identity), nothing, or with `force`
    anything (another run's files are discarded). `ignore`: names in it that are not foreign
    (a stage's log).
    """
    if not cfg.checkpoint:
        raise EvalError("config key 'checkpoint' is required: set checkpoint=DIR")
    tasks = selected_tasks(cfg)
    check_tasks(cfg, tasks)
    checkpoint = check_checkpoint(cfg.checkpoint)
    _check_judge(cfg)
    reference = load_scores(cfg.reference) if cfg.reference else None
    out_dir = cfg.out_dir or DEFAULT_OUT_ROOT / checkpoint.name / default_run_name(cfg)
    checkpoint_sha = checkpoint_fingerprint(checkpoint)
    identity = run_identity(cfg, checkpoint_sha)
    inputs = {
        "the checkpoint": checkpoint,
        "the data root": cfg.data_root,
        "the reference": cfg.reference,
    }
    with claim_output(
        out_dir,
        kind=RUN_KIND,
        owned=lambda p: has_run(p, RUN_KIND),
        force=force,
        inputs=inputs,
        ignore=ignore,
        clean=(".", LMMS_EVAL),
    ) as run_dir:
        if not check_run(run_dir, RUN_KIND, sha256_json(identity), identity, force):
            discard(run_dir, RUN_FILES)
        return _run(cfg, tasks, checkpoint, checkpoint_sha, reference, run_dir, identity)


def default_run_name(cfg: EvalConfig) -> str:
    """The run directory's name under <checkpoint name>/ when out_dir is not given."""
    return f"{cfg.suite}-blind" if cfg.blind else cfg.suite


def run_identity(cfg: EvalConfig, checkpoint_sha: str) -> dict[str, Any]:
    """What a run directory belongs to: the config without RESUME_MAY_CHANGE, the checkpoint
    by content. A run directory of another identity is never reused. `blind` is in it only
    when true, so the runs made before the option existed keep their identity."""
    config = {k: v for k, v in resolved_dict(cfg).items() if k not in RESUME_MAY_CHANGE}
    if not cfg.blind:
        config.pop("blind", None)
    data_root = str(Path(cfg.data_root).expanduser().resolve()) if cfg.data_root else ""
    return {"config": {**config, "data_root": data_root}, "checkpoint": checkpoint_sha}


def _run(
    cfg: EvalConfig,
    tasks: list[TaskSpec],
    checkpoint: Path,
    checkpoint_sha: str,
    reference: dict[str, Any] | None,
    run_dir: Path,
    identity: dict[str, Any],
) -> EvalRun:
    fresh = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    write_run(run_dir, RUN_KIND, sha256_json(identity), identity)
    try:
        with atomic_directory(run_dir / TASKS) as tmp:
            run_tasks = materialize(cfg, tasks, tmp)
    except BaseException:
        if fresh:  # bad data: leave no empty run directory behind
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    run_tasks = [
        dataclasses.replace(t, yaml_path=run_dir / TASKS / t.yaml_path.name) for t in run_tasks
    ]
    save_resolved(cfg, run_dir / "config.yaml")

    keys = {t.spec.name: _task_key(cfg, t, checkpoint_sha) for t in run_tasks}
    todo = [t for t in run_tasks if not (cfg.resume and _finished(run_dir, t, keys[t.spec.name]))]
    if todo:
        _evaluate(cfg, checkpoint, todo, run_dir, keys)

    scores = {
        "schema": SCHEMA_VERSION,
        "suite": cfg.suite,
        "checkpoint": str(checkpoint),
        "checkpoint_sha256": checkpoint_sha,
        "limit": cfg.limit,
        "judge": cfg.judge,
        "blind": cfg.blind,
        "data_root": str(Path(cfg.data_root).expanduser().resolve()) if cfg.data_root else "",
        "lmms_eval_version": importlib.metadata.version("lmms_eval"),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        # "se": None for a task finished before scores.json had it (it is kept, not re-run)
        "tasks": {t.spec.name: {"se": None, **_read_task(run_dir, t)["entry"]} for t in run_tasks},
    }
    if reference is not None:
        scores["reference"] = reference_summary(scores, reference, cfg.reference)
    atomic_write_json(run_dir / "scores.json", scores)
    title = f"# {cfg.suite}: {checkpoint}" + (" (blind: every image grey)" if cfg.blind else "")
    atomic_write_text(run_dir / "scores.md", f"{title}\n\n" + run_table(scores, reference))
    wandb_run = log_scores(run_dir, scores, cfg.wandb)
    evaluated = [t.spec.name for t in todo]
    reused = [t.spec.name for t in run_tasks if t.spec.name not in evaluated]
    return EvalRun(run_dir, scores, evaluated, reused, wandb_run)


def _evaluate(
    cfg: EvalConfig, checkpoint: Path, todo: list[RunTask], run_dir: Path, keys: dict[str, str]
) -> None:
    with offline(bool(cfg.data_root)), torch_threads(cfg.model.threads):
        from evaluation.model import VlmdataLlava

        model = VlmdataLlava(
            str(checkpoint),
            device=cfg.model.device,
            dtype=cfg.model.dtype,
            batch_size=cfg.model.batch_size,
            attn_implementation=cfg.model.attn_implementation,
            blind=cfg.blind,
            chat_template=cfg.model.chat_template,
            image_aspect_ratio=cfg.model.image_aspect_ratio,
            token_stream=cfg.model.token_stream,
        )
        manager = task_manager(run_dir / TASKS)
        for task in todo:
            _evaluate_task(cfg, model, manager, task, run_dir, keys[task.spec.name])


def task_manager(tasks_dir: Path) -> Any:
    """lmms-eval's TaskManager over a run's task YAMLs. A task's prompt options
    (lmms_eval_specific_kwargs) are chosen by model name, else its "default" ones; the model is
    a LLaVA, so a task that names LLaVA's options gets them (seedbench_2 names no others)."""
    from lmms_eval.tasks import TaskManager

    return TaskManager(
        verbosity="WARNING",
        include_path=str(tasks_dir),
        include_defaults=False,
        model_name=LMMS_MODEL_NAME,
    )


def _evaluate_task(
    cfg: EvalConfig, model: Any, manager: Any, task: RunTask, run_dir: Path, key: str
) -> None:
    from lmms_eval.evaluator import simple_evaluate
    from lmms_eval.loggers.evaluation_tracker import EvaluationTracker
    from lmms_eval.utils import get_datetime_str

    started = time.perf_counter()
    task_dir = run_dir / LMMS_EVAL / task.spec.name
    with atomic_directory(task_dir) as tmp, _judge_placeholder(task.predict_only):
        # fresh per call: simple_evaluate's default datetime_str is frozen when lmms-eval loads
        date = get_datetime_str(timezone="UTC")
        tracker = EvaluationTracker(output_path=str(tmp))
        results = simple_evaluate(
            model=model,
            model_args=f"checkpoint={model.pretrained},device={cfg.model.device},"
            f"dtype={cfg.model.dtype},batch_size={cfg.model.batch_size},"
            f"blind={str(cfg.blind).lower()},chat_template={cfg.model.chat_template},"
            f"image_aspect_ratio={cfg.model.image_aspect_ratio},"
            f"token_stream={cfg.model.token_stream}",
            tasks=[task.lmms_name],
            task_manager=manager,
            batch_size=cfg.model.batch_size,
            device=cfg.model.device,
            limit=cfg.limit,
            bootstrap_iters=0,
            log_samples=True,
            predict_only=task.predict_only,
            gen_kwargs=cfg.gen_kwargs or None,
            evaluation_tracker=tracker,
            datetime_str=date,
            cli_args=argparse.Namespace(output_path=str(tmp), process_with_media=False),
            verbosity="WARNING",
        )
        samples = results.pop("samples")[task.lmms_name]
        results["config"]["resolved_cli_args"] = {"output_path": str(task_dir)}
        tracker.save_results_aggregated(
            results=results, samples={task.lmms_name: samples}, datetime_str=date
        )
        tracker.save_results_samples(task_name=task.lmms_name, samples=samples)
        date_id = date.replace(":", "-")
        files = [f"{date_id}_results.json", f"{date_id}_samples_{task.lmms_name}.jsonl"]
        for name in files:
            if not (tmp / name).is_file():  # EvaluationTracker logs write errors and goes on
                raise OSError(f"lmms-eval did not write {task_dir / name}")
        relative = [f"lmms_eval/{task.spec.name}/{name}" for name in files]
        entry = task_entry(task, results, samples, time.perf_counter() - started, *relative)
        atomic_write_json(tmp / "task.json", {"key": key, "entry": entry})


def _task_key(cfg: EvalConfig, task: RunTask, checkpoint_sha: str) -> str:
    """Everything that decides a task's result; a finished task with this key is reused."""
    data = []
    if task.data_files:
        files = sorted(Path("/").glob(task.data_files.lstrip("/")))
        data = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    return sha256_json(
        {
            "checkpoint": checkpoint_sha,
            "task": task.yaml_path.read_text(encoding="utf-8"),
            "spec": dataclasses.asdict(task.spec),
            "data": data,
            "limit": cfg.limit,
            "gen_kwargs": cfg.gen_kwargs,
            "model": dataclasses.asdict(cfg.model),
            "predict_only": task.predict_only,
            "lmms_eval": importlib.metadata.version("lmms_eval"),
            **({"blind": True} if cfg.blind else {}),  # absent when false: older keys stay valid
        }
    )


def _finished(run_dir: Path, task: RunTask, key: str) -> bool:
    try:
        return _read_task(run_dir, task).get("key") == key
    except (FileNotFoundError, json.JSONDecodeError):
        return False


def _read_task(run_dir: Path, task: RunTask) -> dict[str, Any]:
    path = run_dir / LMMS_EVAL / task.spec.name / "task.json"
    return json.loads(path.read_text(encoding="utf-8"))


def _check_judge(cfg: EvalConfig) -> None:
    if cfg.judge != "api":
        return
    api_type = os.environ.get("API_TYPE", "openai")
    variable = JUDGE_KEYS.get(api_type)
    if variable and not os.environ.get(variable):
        raise EvalError(
            f"judge=api with API_TYPE={api_type} needs {variable} in the environment "
            "(keys are never read from configs)"
        )


@contextlib.contextmanager
def offline(enabled: bool) -> Iterator[None]:
    """HF hub and datasets offline (env vars and the already-imported flags), then restore."""
    if not enabled:
        yield
        return
    import datasets.config
    import huggingface_hub.constants

    variables = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    flags = [
        (huggingface_hub.constants, "HF_HUB_OFFLINE"),
        (datasets.config, "HF_HUB_OFFLINE"),
        (datasets.config, "HF_DATASETS_OFFLINE"),
    ]
    saved_env = {k: os.environ.get(k) for k in variables}
    saved_flags = [(module, name, getattr(module, name)) for module, name in flags]
    os.environ.update(variables)
    for module, name in flags:
        setattr(module, name, True)
    try:
        yield
    finally:
        for module, name, value in saved_flags:
            setattr(module, name, value)
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _judge_placeholder(predict_only: bool) -> Iterator[None]:
    """mmvet builds its judge client when its code is imported, which needs an API key even
    for a predictions-only run that never calls the judge."""
    if not predict_only or os.environ.get("OPENAI_API_KEY"):
        yield
        return
    os.environ["OPENAI_API_KEY"] = "unused-predictions-only"
    try:
        yield
    finally:
        os.environ.pop("OPENAI_API_KEY", None)
