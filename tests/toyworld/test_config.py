"""ToyWorldConfig: OmegaConf-friendly, mirrored by configs/data/toyworld.yaml."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from toyworld.config import ToyWorldConfig, as_toyworld_config, validate_config

YAML = Path(__file__).resolve().parents[2] / "configs" / "data" / "toyworld.yaml"


def test_yaml_holds_every_field_at_its_default() -> None:
    node = OmegaConf.load(YAML)
    assert node.kind == "toyworld"
    assert OmegaConf.to_container(node.toyworld) == dataclasses.asdict(ToyWorldConfig())


def test_yaml_starts_with_the_command_that_uses_it() -> None:
    assert YAML.read_text().startswith("# vlmdata toyworld make [out_dir=...] [seed=...]")


def test_structured_config_takes_overrides_and_rejects_unknown_keys() -> None:
    schema = OmegaConf.structured(ToyWorldConfig)
    merged = OmegaConf.merge(
        schema, OmegaConf.from_dotlist(["pool_size=300", "shapes=[circle,ring,star,moon]"])
    )
    cfg = as_toyworld_config(merged)
    assert cfg.pool_size == 300 and cfg.shapes == ["circle", "ring", "star", "moon"]
    with pytest.raises(ValueError, match="unknown ToyWorld config key"):
        as_toyworld_config({"pool_sise": 3})


def test_defaults_are_valid() -> None:
    validate_config(ToyWorldConfig())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seed", -1),
        ("image_size", 8),
        ("colours", ["red", "red", "blue", "green"]),
        ("object_count_weights", [0.0, 0.0]),
        ("near_duplicate_fraction", 0.9),
        ("large_object_fraction", 0.2),
        ("jitter_px", 5),
    ],
)
def test_invalid_values_name_their_key(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"toyworld.{field}|toyworld.text_only_fraction"):
        validate_config(dataclasses.replace(ToyWorldConfig(), **{field: value}))
