"""The default pool has a measurable long tail in all four ADR perspectives; describe_world
reports it and plots it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toyworld.config import ToyWorldConfig
from toyworld.describe import describe_world
from toyworld.pool import sample_pool
from toyworld.sampler import WorldSampler

PERSPECTIVES = ("token", "object", "co_occurrence", "interrogation")


@pytest.fixture(scope="module")
def default_pool_description(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """describe_world over the entities of the DEFAULT pool (4000 samples), without
    rendering its images: describe only needs entities.jsonl."""
    root = tmp_path_factory.mktemp("default_pool")
    samples = sample_pool(WorldSampler(ToyWorldConfig()))
    lines = (json.dumps({"id": f"tw-{i:06d}", **s.entities()}) for i, s in enumerate(samples))
    (root / "entities.jsonl").write_text("\n".join(lines) + "\n")
    return describe_world(root)


@pytest.mark.parametrize("perspective", PERSPECTIVES)
def test_every_perspective_has_a_head_and_a_tail(
    default_pool_description: dict, perspective: str
) -> None:
    stats = default_pool_description["perspectives"][perspective]
    assert stats["tail"] >= 5, stats
    assert stats["head"] >= 3, stats
    # a long tail: few entities hold most of the mass
    assert stats["head_entity_share"] <= 0.45, stats
    assert stats["head_mass_share"] >= stats["q"]
    counts = list(stats["counts"].values())
    assert counts[0] >= 10 * counts[len(counts) // 2], "the head is far above the median"


def test_default_pool_sizes(default_pool_description: dict) -> None:
    perspectives = default_pool_description["perspectives"]
    assert perspectives["object"]["entities"] >= 90  # of 10 x 10 concepts
    assert perspectives["co_occurrence"]["entities"] >= 500
    assert perspectives["co_occurrence"]["head_entity_share"] <= 0.25
    assert perspectives["interrogation"]["entities"] >= 30


def test_describe_writes_one_plot_per_perspective(
    world: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    result = describe_world(world, out_dir=tmp_path / "plots")
    plots = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert plots == sorted(f"rank_frequency_{p}.png" for p in PERSPECTIVES)
    assert all(Path(result["perspectives"][p]["plot"]).is_file() for p in PERSPECTIVES)
    out = capsys.readouterr().out
    assert all(p in out for p in PERSPECTIVES) and "rank-frequency plots:" in out
    assert set(result["benchmarks"]) == {
        "colour",
        "shape",
        "counting",
        "existence",
        "spatial",
        "multiple_choice",
        "caption",
    }
    assert all(b["head"] and b["tail"] for b in result["benchmarks"].values())


def test_describe_agrees_with_world_json(world: Path, tmp_path: Path) -> None:
    recorded = json.loads((world / "world.json").read_text())["longtail"]
    described = describe_world(world, out_dir=tmp_path)["perspectives"]
    for perspective in PERSPECTIVES:
        for key in ("entities", "mentions", "tau", "head", "tail"):
            assert described[perspective][key] == recorded[perspective][key]


def test_describe_names_a_missing_world(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a ToyWorld"):
        describe_world(tmp_path)
