"""The tiny sweep end to end with the local executor: outputs, report, W&B (every stage's run and
the report's), resume after kills."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture
def finished(finished_sweep):
    return finished_sweep


def test_every_stage_finished_and_reported(finished, sweep_tools):
    work, store, out = finished
    stages = sorted(m["stage"] for m in sweep_tools.markers(store).values())
    assert stages == ["curate", "curate", "eval", "eval", "foundation", "pool", "train", "train"]
    report = work / "sweeps" / "tiny" / "report" / "report.md"
    text = report.read_text()
    assert "| size | selection s | seeds |" in text
    # the selection's seconds vary; random and full select on the CPU
    assert re.search(r"\| full \| - \| - \| - \| 300 \| \d+\.\d \(cpu\) \| 1 \|", text)
    assert re.search(
        r"\| random @0\.2 \| baseline \| - \| .* \| 60 \| \d+\.\d \(cpu\) \| 1 \|", text
    )
    assert (report.parent / "composition.png").stat().st_size > 0
    assert "rel. perf. %" in out and f"report: {report}" in out
    assert set(sweep_tools.scores(store)) == {"full s0", "random b0.2 s0"}


def test_rerun_redoes_nothing(finished, sweep_tools):
    work, store, _ = finished
    before = sweep_tools.markers(store)
    out = sweep_tools.run(work, store)
    assert out.count("(done, skipped)") == 8 and "(running)" not in out
    assert sweep_tools.markers(store) == before


def _wandb_records(path: Path):
    from wandb.proto import wandb_internal_pb2 as pb
    from wandb.sdk.internal import datastore

    store = datastore.DataStore()
    store.open_for_scan(str(path))
    while (data := store.scan_data()) is not None:
        record = pb.Record()
        record.ParseFromString(data)
        yield record


def _wandb_run(run_dir: Path) -> dict:
    files = sorted(run_dir.glob("wandb/offline-run-*/run-*.wandb"))
    assert len(files) == 1, f"expected one offline W&B run in {run_dir}, found {files}"
    run = {"keys": set()}
    for record in _wandb_records(files[0]):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run.update(job_type=record.run.job_type, group=record.run.run_group)
        elif kind == "history":
            run["keys"].update(
                item.key or "/".join(item.nested_key) for item in record.history.item
            )
        elif kind == "summary":
            run["keys"].update(
                item.key or "/".join(item.nested_key) for item in record.summary.update
            )
    return run


def test_wandb_offline_run_for_every_stage(finished):
    work, store, _ = finished
    expected = {
        "curate": "curate/selected",
        "train": "train/loss",
        "eval": "eval/toyworld/toyworld_colour/score",
    }
    plan = json.loads((work / "sweeps" / "tiny" / "plan.json").read_text())
    for run in plan["runs"]:
        for stage, metric in expected.items():
            wandb_run = _wandb_run(Path(run["dirs"][stage]))
            assert wandb_run["job_type"] == stage and wandb_run["group"] == "tiny"
            assert metric in wandb_run["keys"], (stage, sorted(wandb_run["keys"])[:20])
    report = work / "sweeps" / "tiny" / "report"
    report_run = _wandb_run(report)
    assert (report_run["job_type"], report_run["group"]) == ("report", "tiny")
    assert "report/random@0.2/vs_full/delta" in report_run["keys"]
    own = report / "wandb"  # the report run's folder (W&B's caches and logs inside it)
    strays = [
        p
        for p in work.rglob("wandb")
        if p.is_dir() and store not in p.parents and p != own and own not in p.parents
    ]
    assert strays == [], f"W&B files outside the stage and report directories: {strays}"
    in_system_tmp = sorted(p.name for p in (work / "system-tmp").iterdir() if "wandb" in p.name)
    assert in_system_tmp == [], f"W&B files left in the system temp dir: {in_system_tmp}"


def _kill_when(sweep_tools, work: Path, store: Path, condition, timeout: float = 300) -> None:
    proc = subprocess.Popen(
        sweep_tools.command(work, store),
        cwd=work,
        env=sweep_tools.env(work),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline and not condition():
            time.sleep(0.2)
    finally:
        proc.kill()
        proc.wait()


def test_killed_sweep_resumes_without_redoing_finished_stages(finished, tmp_path, sweep_tools):
    _, reference_store, _ = finished
    work, store = tmp_path, tmp_path / "store"
    kill_points = [
        lambda: any(
            m["stage"] == "pool" for m in sweep_tools.markers(store).values()
        ),  # between stages
        lambda: any(store.glob("train/*/checkpoints/step*.ckpt")),  # mid-training
        lambda: any(store.glob("eval/*/tasks")),  # mid-evaluation
    ]
    finished_before: dict[str, dict] = {}
    for condition in kill_points:
        _kill_when(sweep_tools, work, store, condition)
        finished_before.update(sweep_tools.markers(store))
    assert finished_before, "no stage finished before the kills"
    sweep_tools.run(work, store)
    after = sweep_tools.markers(store)
    for key, marker in finished_before.items():
        assert after[key] == marker, f"{marker['stage']} {marker['label']} was re-done"
    assert sweep_tools.scores(store) == sweep_tools.scores(reference_store)
