"""Which pool samples ADR Data Synthesis varies (curation/methods/adr/README.md).

Candidates: samples with at least one tail entity (n_e < tau_k) in any perspective whose
image occurs once in the pool. The refill draws `count` of them at random (seeded); when
more are asked than there are candidates, every candidate is used round-robin, each round
in a fresh random order, and repeats get their own variation seeds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from curation.methods.adr.entities.table import EntityTable


def tail_samples(tables: Mapping[str, EntityTable], taus: Mapping[str, int]) -> np.ndarray:
    """Per sample: holds at least one tail entity in some perspective."""
    has_tail = None
    for name, table in tables.items():
        tail = (table.counts < taus[name]).astype(np.float64)
        hit = (table.matrix @ tail) > 0
        has_tail = hit if has_tail is None else has_tail | hit
    if has_tail is None:
        raise ValueError("no entity tables to find tail samples in")
    return has_tail


def unique_image_samples(records: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Per sample: has an image that no other sample of the pool uses."""
    uses = Counter(record["image"] for record in records if "image" in record)
    return np.array(["image" in r and uses[r["image"]] == 1 for r in records], dtype=bool)


def tail_candidates(
    records: Sequence[Mapping[str, Any]], tables: Mapping[str, EntityTable], taus: Mapping[str, int]
) -> np.ndarray:
    return np.flatnonzero(tail_samples(tables, taus) & unique_image_samples(records))


def draw_sources(candidates: np.ndarray, count: int, seed: int) -> list[tuple[int, int]]:
    """(sample index, repeat number) for `count` synthetic samples."""
    if count <= 0:
        return []
    if candidates.size == 0:
        raise ValueError(
            f"{count} synthetic samples asked for, but no sample has a tail "
            "entity and an image of its own"
        )
    rng = np.random.default_rng(seed)
    drawn: list[tuple[int, int]] = []
    repeat = 0
    while len(drawn) < count:
        order = rng.permutation(candidates)[: count - len(drawn)]
        drawn.extend((int(i), repeat) for i in order)
        repeat += 1
    return drawn
