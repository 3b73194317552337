"""Caps that every pool record must respect (the `limits` node of a data config,
configs/data/*.yaml)."""

from __future__ import annotations

from dataclasses import dataclass


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
