"""Small ToyWorlds shared by the ToyWorld tests (built once per session)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from toyworld.config import ToyWorldConfig
from toyworld.make import make_world

SMALL = {"pool_size": 300, "benchmark_items_per_skill": 20}


def small_config(out_dir: Path, **overrides: object) -> ToyWorldConfig:
    return ToyWorldConfig(out_dir=str(out_dir), **{**SMALL, **overrides})


@pytest.fixture(name="small_config")
def small_config_fixture() -> Callable[..., ToyWorldConfig]:
    """small_config(out_dir, **overrides): a ToyWorldConfig for a quick world."""
    return small_config


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_world(small_config(tmp_path_factory.mktemp("tw") / "world"), progress=False)


@pytest.fixture(scope="session")
def world_again(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Same config and seed as `world`, written elsewhere."""
    return make_world(small_config(tmp_path_factory.mktemp("tw") / "again"), progress=False)


@pytest.fixture(scope="session")
def world_other_seed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_world(small_config(tmp_path_factory.mktemp("tw") / "seed1", seed=1), progress=False)
