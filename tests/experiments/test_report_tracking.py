"""The report's W&B run: a real offline run in the report directory, in the sweep's group, whose
summary holds the Δ numbers of the report (read back from the run's own file)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from experiments import report_tracking
from experiments.report import write_report
from experiments.report_tracking import metrics, run_id


def _items(shift: float, seed: int) -> dict[str, list[float]]:
    rng = np.random.default_rng(300 + seed)
    return {"colour": [float(v) + shift for v in rng.random(30) < 0.5]}


ARMS = {
    ("random", 0.2, ""): {s: _items(0.0, s) for s in (0, 1)},
    ("better", 0.2, ""): {s: _items(1.0, s) for s in (0, 1)},
    ("random", 0.2, "aa"): {s: _items(0.0, s) for s in (0, 1)},
}


def _summary(report_dir: Path) -> tuple[dict, dict]:
    """The run record and the last value of every summary key of the one offline run."""
    from wandb.proto import wandb_internal_pb2 as pb
    from wandb.sdk.internal import datastore

    files = sorted(report_dir.glob("wandb/offline-run-*/run-*.wandb"))
    assert len(files) == 1, files
    scan = datastore.DataStore()
    scan.open_for_scan(str(files[0]))
    run, summary = {}, {}
    while (data := scan.scan_data()) is not None:
        record = pb.Record()
        record.ParseFromString(data)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run = {
                "id": record.run.run_id,
                "group": record.run.run_group,
                "job": record.run.job_type,
            }
        elif kind == "summary":
            for item in record.summary.update:
                summary[item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
    return run, summary


def test_the_report_run_holds_the_reports_numbers(paired_sweep):
    wandb = {"mode": "offline", "project": "vlmdata-test", "group": "paired"}
    sweep_dir = paired_sweep(ARMS, reference="", wandb=wandb)
    write_report(sweep_dir)
    report_dir = sweep_dir / "report"
    run, summary = _summary(report_dir)
    assert run == {"id": run_id(report_dir), "group": "paired", "job": "report"}
    better = "report/better@0.2/vs_random"
    assert [summary[f"{better}/{k}"] for k in ("delta", "low", "high", "half_width")] == [
        100.0,
        100.0,
        100.0,
        0.0,
    ]
    assert summary[f"{better}/p_improvement"] == 1.0
    assert summary[f"{better}/colour/delta"] == 100.0
    assert summary["report/random-aa@0.2/vs_random/delta"] == 0.0
    assert summary["report/aa_trustworthy"] == 1.0
    assert summary["report/random@0.2/overall"] == pytest.approx(
        np.mean([100 * np.mean(_items(0.0, s)["colour"]) for s in (0, 1)])
    )
    saved = json.loads((report_dir / "summary.json").read_text())
    for key, value in metrics(saved).items():
        assert summary[key] == pytest.approx(value), key


def test_no_report_run_when_the_evaluations_ran_without_wandb(paired_sweep):
    sweep_dir = paired_sweep(ARMS, reference="", wandb={"mode": "disabled"})
    write_report(sweep_dir)
    assert not (sweep_dir / "report" / "wandb").exists()


def _run_folders(report_dir: Path) -> list[Path]:
    return sorted(p for p in (report_dir / "wandb").iterdir() if p.name != "latest-run")


@pytest.mark.slow
def test_a_rerun_report_replaces_its_earlier_run_folder(paired_sweep):
    wandb = {"mode": "offline", "project": "vlmdata-test", "group": "paired"}
    sweep_dir = paired_sweep(ARMS, reference="", wandb=wandb)
    report_dir = sweep_dir / "report"
    write_report(sweep_dir)
    (first,) = report_dir.glob("wandb/offline-run-*")
    (first / "earlier").write_text("the first report's run")
    stale = first.with_name(f".tmp-{first.name}.old")  # left aside by a killed report
    stale.mkdir()
    write_report(sweep_dir)
    (second,) = report_dir.glob("wandb/offline-run-*")  # _summary checks its .wandb file
    assert not (second / "earlier").exists() and not stale.exists()
    assert _summary(report_dir)[0]["id"] == run_id(report_dir)


@pytest.mark.slow
def test_a_failed_report_run_keeps_the_earlier_one(paired_sweep, monkeypatch):
    wandb = {"mode": "offline", "project": "vlmdata-test", "group": "paired"}
    sweep_dir = paired_sweep(ARMS, reference="", wandb=wandb)
    report_dir = sweep_dir / "report"
    write_report(sweep_dir)
    (first,) = report_dir.glob("wandb/offline-run-*")
    (first / "earlier").write_text("the first report's run")
    before = _run_folders(report_dir)

    def broken(*args):
        raise RuntimeError("logging failed")

    monkeypatch.setattr(report_tracking, "_table", broken)
    with pytest.raises(RuntimeError, match="logging failed"):
        write_report(sweep_dir)
    assert _run_folders(report_dir) == before
    assert (first / "earlier").is_file()
    assert _summary(report_dir)[0]["id"] == run_id(report_dir)
