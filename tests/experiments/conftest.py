"""Run the tiny sweep (configs/sweep/tiny.yaml) in a subprocess and read back what it wrote.

Tests get these helpers through the `sweep_tools` fixture.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from omegaconf import OmegaConf

from curation.data.subset import MANIFEST
from experiments.stages import MARKER

REPO = Path(__file__).resolve().parents[2]
# The smoke sweep's small foundation recipe: a test that makes a world's foundation uses it
# (the default recipe takes minutes).
SMOKE_FOUNDATION = [
    o
    for o in OmegaConf.load(REPO / "configs" / "sweep" / "tiny.yaml").overrides
    if o.startswith("data.foundation.")
]
TINY = [
    "data.toyworld.pool_size=300",
    "data.toyworld.benchmark_items_per_skill=10",
    "training.trainer.max_steps=6",
    "training.trainer.checkpoint_every_n_steps=2",
    "training.trainer.log_every_n_steps=1",
    "training.loader.per_device_batch_size=8",
    "training.trainer.global_batch_size=8",
    "evaluation.limit=3",
    '"evaluation.only=[toyworld_colour,toyworld_counting]"',
    "progress=false",
]


def sweep_command(
    work: Path, store: Path, *extra: str, overrides: tuple[str, ...] = ()
) -> list[str]:
    every_run = ",".join([*TINY, *SMOKE_FOUNDATION, *overrides, f"store={store}"])
    return [
        sys.executable,
        "-m",
        "experiments.cli",
        "sweep",
        "sweep=tiny",
        f"out_root={work / 'sweeps'}",
        f"overrides=[{every_run}]",
        *extra,
    ]


def sweep_env(work: Path) -> dict[str, str]:
    home, system_tmp = work / "home", work / "system-tmp"
    home.mkdir(parents=True, exist_ok=True)
    system_tmp.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "SLURM_"))}
    return {
        **env,
        "HOME": str(home),
        "TMPDIR": str(system_tmp),
        "PYTHONPATH": str(REPO),
        "PYTHONUNBUFFERED": "1",
    }


def run_sweep(work: Path, store: Path, *extra: str, timeout: float = 600) -> str:
    proc = subprocess.run(
        sweep_command(work, store, *extra),
        cwd=work,
        env=sweep_env(work),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def markers(store: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for path in glob.glob(str(store / "**" / ".vlmdata-stage.json"), recursive=True):
        marker = json.loads(Path(path).read_text())
        found[marker["key"]] = marker
    return found


def scores(store: Path) -> dict[str, dict[str, Any]]:
    """label -> task -> score, from every finished eval stage."""
    out = {}
    for key, marker in markers(store).items():
        if marker["stage"] != "eval":
            continue
        path = next(Path(p) for p in glob.glob(str(store / "eval" / f"*-{key[:12]}")))
        document = json.loads((path / "scores.json").read_text())
        out[marker["label"]] = {t: e.get("score") for t, e in document["tasks"].items()}
    return out


@pytest.fixture(scope="session")
def sweep_tools() -> SimpleNamespace:
    return SimpleNamespace(
        command=sweep_command,
        env=sweep_env,
        run=run_sweep,
        markers=markers,
        scores=scores,
        smoke_foundation=SMOKE_FOUNDATION,
    )


@pytest.fixture(scope="session")
def finished_sweep(tmp_path_factory, sweep_tools) -> tuple[Path, Path, str]:
    """The tiny sweep run once to the end with the local executor, two jobs at a time:
    (work dir, store, stdout). The other sweep tests compare their scores with these."""
    work = tmp_path_factory.mktemp("sweep")
    store = work / "store"
    return work, store, sweep_tools.run(work, store, "workers=2")


# `vlmdata ARGS` with `module.function` held: the first call prints "holding" and waits for the
# file GO, so a test can start a second writer while the first holds its out_dir.
HELD_CLI = """
import importlib, sys, time
from pathlib import Path
module_name, function, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
module = importlib.import_module(module_name)
original = getattr(module, function)
def held(*args, **kwargs):
    print("holding", flush=True)
    while not go.exists():
        time.sleep(0.05)
    return original(*args, **kwargs)
setattr(module, function, held)
from experiments.cli import main
sys.exit(main(sys.argv[4:]))
"""


@pytest.fixture
def cli_race(tmp_path):
    """race(hold, first_args, second_args, env): run `vlmdata first_args` held inside `hold`
    ("package.module.function", reached after the command took its out_dir), run `vlmdata
    second_args` to the end meanwhile, then release the first. Returns (first, second, seconds
    the second took) with `first` a CompletedProcess (its pid in `first.pid`)."""

    def race(hold: str, first_args: list[str], second_args: list[str], env: dict[str, str]):
        module, function = hold.rsplit(".", 1)
        go = tmp_path / "go-race"
        command = [sys.executable, "-c", HELD_CLI, module, function, str(go), *first_args]
        first = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        try:
            assert first.stdout.readline().strip() == "holding"
            started = time.perf_counter()
            second = subprocess.run(
                [sys.executable, "-m", "experiments.cli", *second_args],
                capture_output=True,
                text=True,
                env=env,
                timeout=300,
            )
            seconds = time.perf_counter() - started
        finally:
            go.write_text("")
            stdout, stderr = first.communicate(timeout=300)
        done = subprocess.CompletedProcess(command, first.returncode, stdout, stderr)
        done.pid = first.pid
        return done, second, seconds

    return race


def _write_eval(run_dir: Path, tasks: dict[str, list[float]], wandb: dict | None) -> None:
    """A finished ToyWorld-like eval: per-item values (0..1 unless a test shifts them) with
    alternating head/tail labels, and scores.json reporting their means on the 0..100 scale."""
    (run_dir / "lmms_eval").mkdir(parents=True)
    entries = {}
    for task, values in tasks.items():
        parts = ["head" if i % 2 == 0 else "tail" for i in range(len(values))]
        samples = [
            {"doc_id": i, "score": {"score": v, "longtail": part}}
            for i, (v, part) in enumerate(zip(values, parts, strict=True))
        ]
        lines = "\n".join(json.dumps(s) for s in samples) + "\n"
        (run_dir / "lmms_eval" / f"{task}.jsonl").write_text(lines, encoding="utf-8")

        def mean(part: str, values=values, parts=parts) -> float:
            chosen = [v for v, p in zip(values, parts, strict=True) if part in ("score", p)]
            return 100.0 * sum(chosen) / len(chosen)

        entries[task] = {
            "status": "scored",
            "metric": "score",
            "higher_is_better": True,
            "scale": 100.0,
            "score": mean("score"),
            "head": mean("head"),
            "tail": mean("tail"),
            "samples": f"lmms_eval/{task}.jsonl",
        }
    document = {"suite": "toyworld", "blind": False, "tasks": entries}
    (run_dir / "scores.json").write_text(json.dumps(document), encoding="utf-8")
    if wandb is not None:
        (run_dir / "config.yaml").write_text(OmegaConf.to_yaml({"wandb": wandb}))


SUBSET_SIZE = 40  # paired_sweep's finished subsets


@pytest.fixture
def paired_sweep(tmp_path):
    """make(arms, reference="full", **plan) -> a sweep directory whose runs are finished evals
    with per-item samples. arms: (method, budget, control) -> seed -> task -> item values;
    plan: extra top-level plan.json keys ("protocol"); wandb=dict writes each eval's W&B
    settings into its config.yaml; selection_s: arm -> the selection seconds (on "cpu") in the
    subset manifest (SUBSET_SIZE items) of each of its runs' finished curate jobs (other arms'
    never finished)."""

    def make(
        arms: dict,
        reference: str = "full",
        wandb: dict | None = None,
        selection_s: dict | None = None,
        **plan,
    ) -> Path:
        runs, jobs = [], []
        for (method, budget, control), seeds in arms.items():
            for seed, tasks in seeds.items():
                label = (
                    method
                    + (f" {control}" if control else "")
                    + ("" if budget is None else f" b{budget:g}")
                    + f" s{seed}"
                )
                eval_dir = tmp_path / "store" / "eval" / label.replace(" ", "-")
                _write_eval(eval_dir, tasks, wandb)
                curate_dir = tmp_path / "store" / "subsets" / label
                key = f"curate-{label}"
                if (method, budget, control) in (selection_s or {}):
                    curate_dir.mkdir(parents=True)
                    seconds = selection_s[(method, budget, control)]
                    timings = {"timings_s": {"total": seconds}, "device": "cpu"}
                    manifest = {"counts": {"selected": SUBSET_SIZE}, **timings}
                    (curate_dir / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
                    marker = {"stage": "curate", "key": key, "seconds": seconds + 100}
                    (curate_dir / MARKER).write_text(json.dumps(marker), encoding="utf-8")
                jobs.append({"stage": "curate", "key": key, "out_dir": str(curate_dir)})
                runs.append(
                    {
                        "label": label,
                        "method": method,
                        "budget": budget,
                        "seed": seed,
                        "control": control,
                        "dirs": {"curate": str(curate_dir), "eval": str(eval_dir)},
                        "keys": {"curate": key},
                    }
                )
        sweep_dir = tmp_path / "sweeps" / "paired"
        sweep_dir.mkdir(parents=True)
        sweep = {"name": "paired", "reference": reference}
        document = {"sweep": sweep, "jobs": jobs, "runs": runs, **plan}
        (sweep_dir / "plan.json").write_text(json.dumps(document), encoding="utf-8")
        return sweep_dir

    return make


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A one-node SLURM cluster of Debian's packages for the module's tests (slurm/test_cluster.sh
    installs them when missing, as root); yields its slurm.conf."""
    if os.geteuid() != 0 and not shutil.which("slurmctld"):
        pytest.skip("needs root to install Debian's slurm packages")
    state = tmp_path_factory.mktemp("slurm")
    script = REPO / "slurm" / "test_cluster.sh"
    subprocess.run([str(script), "start", str(state)], check=True, timeout=300)
    try:
        yield state / "slurm.conf"
    finally:
        subprocess.run([str(script), "stop", str(state)], timeout=60)
