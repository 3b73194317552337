"""W&B's temp dir: chosen by the first run of a process and kept by every later one."""

from __future__ import annotations

import sys
from pathlib import Path

from training.wandb_env import SERVICE_TMPDIR, pin_service_tmpdir, wandb_env


def test_later_runs_of_a_process_keep_the_first_runs_temp_dir(tmp_path, monkeypatch):
    """W&B's service reads TMPDIR once; a run that moved it made the service's monitor wait
    8 s for a port file written elsewhere."""
    monkeypatch.delenv(SERVICE_TMPDIR, raising=False)
    first = wandb_env(tmp_path / "run1", environ={})
    second = wandb_env(tmp_path / "run2", environ={})
    assert first["TMPDIR"] == str((tmp_path / "run1" / "wandb" / ".tmp").resolve())
    assert second["TMPDIR"] == first["TMPDIR"]
    assert Path(second["WANDB_DIR"]) == (tmp_path / "run2").resolve()  # the run's own files


def test_an_executor_pins_its_store_tmp_before_any_run(tmp_path, monkeypatch):
    monkeypatch.delenv(SERVICE_TMPDIR, raising=False)
    store_tmp = tmp_path / "store" / "tmp"
    store_tmp.mkdir(parents=True)
    assert pin_service_tmpdir(store_tmp) == str(store_tmp.resolve())
    assert wandb_env(tmp_path / "run", environ={})["TMPDIR"] == str(store_tmp.resolve())


def test_an_inherited_pin_to_a_missing_dir_is_replaced_before_wandb_starts(tmp_path, monkeypatch):
    monkeypatch.setenv(SERVICE_TMPDIR, str(tmp_path / "gone"))
    monkeypatch.delitem(sys.modules, "wandb", raising=False)
    values = wandb_env(tmp_path / "run", environ={})
    assert values["TMPDIR"] == str((tmp_path / "run" / "wandb" / ".tmp").resolve())
