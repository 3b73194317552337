"""A killed training's temporaries go with the next run in its out_dir.

The `vlmdata train` out_dir rules are tested in tests/experiments/test_train_outdir.py, which
imports FAST, Killed and KillAt from here (the `records` fixture is in tests/conftest.py)."""

from __future__ import annotations

import os
import time

import pytest
import pytorch_lightning as pl

from training.train import train

FAST = [
    "wandb.mode=disabled",
    "trainer.progress_bar=false",
    "model.model_max_length=256",
    "trainer.global_batch_size=2",
    "loader.per_device_batch_size=2",
    "trainer.max_steps=3",
    "trainer.checkpoint_every_n_steps=1",
    "export=false",
    "model.kind=tiny",
]


class Killed(RuntimeError):
    pass


class KillAt(pl.Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step >= self.step:
            raise Killed


def test_a_killed_runs_temporaries_go_with_the_next_run(records, tmp_path, tiny_config):
    out = tmp_path / "run"
    with pytest.raises(Killed):
        train(
            tiny_config(out, *FAST, f"records={records}", f"image_root={tmp_path}"),
            callbacks=[KillAt(2)],
        )
    (out / ".tmp-hf.abcd1234").mkdir()  # as a kill during the export leaves them
    (out / ".tmp-hf.old").mkdir()
    (out / ".tmp-train_summary.json.x1y2z3w4").write_text("{")
    past = time.time() - 60
    for entry in out.glob(".tmp-*"):
        os.utime(entry, (past, past))
    train(tiny_config(out, *FAST, f"records={records}", f"image_root={tmp_path}"))
    assert not list(out.glob(".tmp-*"))
