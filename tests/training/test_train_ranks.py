"""Ranks started together (srun, the local executor): a rank > 0 starts training only once
rank 0 holds the run directory for this run (training.train._await_run)."""

from __future__ import annotations

import threading
import time

import pytest

from curation.data.outdir import write_run
from training import train as train_module
from training.layout import RUN_KIND


def test_a_rank_waits_for_rank_0s_record_of_this_run(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    write_run(run_dir, RUN_KIND, "other" * 12, {})  # a previous config's run, to be replaced

    def rank0_claims() -> None:
        time.sleep(0.6)
        (run_dir / ".vlmdata-run.json").unlink()
        write_run(run_dir, RUN_KIND, "mine" * 16, {})

    claimer = threading.Thread(target=rank0_claims)
    started = time.monotonic()
    claimer.start()
    train_module._await_run(run_dir, "mine" * 16)
    claimer.join()
    assert time.monotonic() - started >= 0.6


def test_a_rank_whose_rank_0_never_claims_fails_with_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(train_module, "AWAIT_RUN_S", 0.3)
    with pytest.raises(RuntimeError) as caught:
        train_module._await_run(tmp_path / "absent", "k" * 64)
    assert "rank 0 did not claim" in str(caught.value) and "\n" not in str(caught.value)
