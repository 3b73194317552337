"""check_config: one line naming the key for values the schema's types let through."""

from __future__ import annotations

import dataclasses

import pytest

from configs.compose import ConfigError
from curation.decontaminate.config import DecontaminateConfig, NearConfig, TextConfig, check_config


def test_the_defaults_pass() -> None:
    check_config(DecontaminateConfig())


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"kinds": ["exact", "pixels"]}, "kinds"),
        ({"kinds": []}, "kinds"),
        ({"near": NearConfig(max_hamming=65)}, "near.max_hamming"),
        ({"near": NearConfig(max_shift=8, side=16)}, "near.max_shift"),
        ({"near": NearConfig(side=4, max_shift=1)}, "near.side"),
        ({"text": TextConfig(ngram=0)}, "text.ngram"),
        ({"text": TextConfig(min_overlap=0.0)}, "text.min_overlap"),
        ({"text": TextConfig(fields=[])}, "text.fields"),
        ({"text": TextConfig(boilerplate_min_count=1)}, "text.boilerplate_min_count"),
        ({"batch_rows": 0}, "batch_rows"),
    ],
)
def test_bad_values_name_their_key(changes: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=f"^{key}"):
        check_config(dataclasses.replace(DecontaminateConfig(), **changes))
