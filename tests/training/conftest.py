"""Shared inputs of the training tests: tiny-model configs, a small ToyWorld, one trained run.

Helpers come as fixtures that return functions (tests import nothing from here).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from PIL import Image

from configs.compose import compose, config_path, to_object
from training.config import TrainingConfig

# Test-speed settings on top of configs/training/tiny.yaml (same code paths as a real run).
FAST = [
    "wandb.mode=disabled",
    "trainer.progress_bar=false",
    "trainer.log_every_n_steps=10",
    "model.model_max_length=256",
]


def _tiny_config(out_dir: Path, *overrides: str) -> TrainingConfig:
    return to_object(
        compose(
            TrainingConfig,
            config_path("training", "tiny"),
            [f"out_dir={out_dir}", *FAST, *overrides],
        )
    )


def _image_records(root: Path, n: int) -> list[dict]:
    """`n` records with a 32x24 PNG each under root/img/ (colour questions) + one text-only."""
    (root / "img").mkdir(parents=True, exist_ok=True)
    colours = {"red": (220, 20, 20), "green": (20, 200, 20), "blue": (20, 20, 220)}
    records: list[dict] = []
    for i in range(n):
        name = list(colours)[i % 3]
        Image.new("RGB", (32, 24), colours[name]).save(root / "img" / f"{i}.png")
        records.append(
            {
                "id": f"r{i}",
                "image": f"img/{i}.png",
                "conversations": [
                    {"from": "human", "value": "<image>\nWhat colour is it?"},
                    {"from": "gpt", "value": name},
                ],
            }
        )
    records.append(
        {
            "id": "text",
            "conversations": [
                {"from": "human", "value": "Say hi."},
                {"from": "gpt", "value": "hi"},
            ],
        }
    )
    return records


def _write_records(root: Path, records: list[dict]) -> Path:
    path = root / "records.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


@pytest.fixture
def tiny_config() -> Callable[..., TrainingConfig]:
    """tiny_config(out_dir, *overrides): configs/training/tiny.yaml at test speed."""
    return _tiny_config


@pytest.fixture
def image_records() -> Callable[[Path, int], list[dict]]:
    return _image_records


@pytest.fixture
def write_records() -> Callable[[Path, list[dict]], Path]:
    return _write_records


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> Iterator[None]:
    # The tiny model's matmuls gain nothing from a second thread, and two threads on a
    # busy 2-core machine spin-wait for each other.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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
def full_run(world: Path, tmp_path_factory: pytest.TempPathFactory):
    """The tiny model fully finetuned for 150 steps on the world (shared by several tests)."""
    from training.train import train

    out = tmp_path_factory.mktemp("runs") / "full"
    return train(
        _tiny_config(
            out,
            f"records={world / 'pool.json'}",
            f"image_root={world}",
            "trainer.global_batch_size=8",
            "loader.per_device_batch_size=8",
            "trainer.max_steps=150",
            "trainer.checkpoint_every_n_steps=1000",
        )
    )
