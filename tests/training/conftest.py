"""Shared inputs of the training tests: a small ToyWorld, one trained run, one torch thread.

The tiny-model configs and record files (tiny_config, image_records, write_records) are in
tests/conftest.py: the CLI's tests in tests/experiments use them too.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope="session")
def _one_thread(one_torch_thread) -> None:
    """Every training test on one torch thread (tests/conftest.py says why)."""


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 400-sample ToyWorld (pool.json + images), generated once per session."""
    from toyworld.config import ToyWorldConfig
    from toyworld.make import make_world

    out = tmp_path_factory.mktemp("toyworld") / "world"
    make_world(
        ToyWorldConfig(out_dir=str(out), seed=0, pool_size=400, benchmark_items_per_skill=4),
        progress=False,
    )
    return out


@pytest.fixture(scope="session")
def full_run(world: Path, tmp_path_factory: pytest.TempPathFactory, tiny_config):
    """The tiny model fully finetuned for 150 steps on the world (shared by several tests)."""
    from training.train import train

    out = tmp_path_factory.mktemp("runs") / "full"
    return train(
        tiny_config(
            out,
            f"records={world / 'pool.json'}",
            f"image_root={world}",
            "trainer.global_batch_size=8",
            "loader.per_device_batch_size=8",
            "trainer.max_steps=150",
            "trainer.checkpoint_every_n_steps=1000",
        )
    )
