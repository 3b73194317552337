"""Schemas of curation's configs: a curation run (configs/curation/*.yaml) and the caps that
every pool record must respect (the `limits` node of a data config, configs/data/*.yaml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class CurationConfig:
    method: str = "random"
    # Fraction of the pool in (0, 1], or an absolute number of samples (> 1). None: the method
    # decides the size itself (e.g. ADR's rebalancing rule).
    budget: float | None = 0.2
    seed: int = 0
    # Method-specific parameters, checked against the method's own Params dataclass.
    params: Any = field(default_factory=dict)


@dataclass
class RecordLimits:
    """Caps on one pool record; a record over a cap is invalid (an error, or a counted skip).

    The defaults leave LLaVA-665K whole with a wide margin and stop pathological records
    (a 50 MB turn, a JSON bomb) before they cost minutes or gigabytes downstream.
    """

    # LLaVA-665K's longest turns are a few thousand characters; 100K is ~25x that.
    max_turn_chars: int = 100_000
    # Its longest conversations have ~100+ turns (ShareGPT / OCR-VQA); 1000 is ~10x that.
    max_turns: int = 1_000
    # A LLaVA record nests 3 levels (record > conversations > turn); extra keys may add a few.
    # Must stay well below Python's recursion limit (~1000), where decoding itself fails.
    max_json_depth: int = 32
    # Its largest images are ~4K px a side (16.8 MP); 8192 x 8192 is 4x that.
    max_image_pixels: int = 8192 * 8192
