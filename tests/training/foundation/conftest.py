"""One small foundation (stages 0 and 1 on a 600-scene corpus), made once for these tests."""

from pathlib import Path

import pytest

from toyworld.config import ToyWorldConfig
from training.foundation.recipe import AlignRecipe, FoundationRecipe, LanguageRecipe, VisionRecipe

SMALL = FoundationRecipe(
    corpus_size=600,
    held_out_size=200,
    text_only_size=40,
    vision=VisionRecipe(steps=150, batch_size=64),
    language=LanguageRecipe(),  # the default: no text-only pretraining
    align=AlignRecipe(
        epochs=1,
        batch_size=32,
        text_conversations=100,
        grounded={"existence": 60, "spatial": 20},
    ),
)


@pytest.fixture(scope="session")
def small_recipe() -> FoundationRecipe:
    return SMALL


@pytest.fixture(scope="session")
def world_config() -> ToyWorldConfig:
    return ToyWorldConfig(pool_size=200, benchmark_items_per_skill=4)


@pytest.fixture(scope="session")
def small_foundation(tmp_path_factory: pytest.TempPathFactory, world_config) -> Path:
    from training.foundation.build import build_foundation

    return build_foundation(
        world_config, SMALL, tmp_path_factory.mktemp("foundation") / "f", progress=False
    )
