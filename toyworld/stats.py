"""Per-perspective entity counts of a pool and their long-tail summary."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from curation.data.longtail import head_tail_split, sorted_by_count, tau_threshold
from toyworld.entities import PERSPECTIVES


def count_entities(rows: Iterable[Mapping[str, list[str]]]) -> dict[str, Counter]:
    """n_e per perspective: mentions for token, samples for the others (their lists are
    already de-duplicated per sample). Ties keep first-seen order."""
    counts = {perspective: Counter() for perspective in PERSPECTIVES}
    for row in rows:
        for perspective in PERSPECTIVES:
            counts[perspective].update(row[perspective])
    return counts


def summarise(counts: Mapping[str, int], q: float) -> dict:
    head, tail = head_tail_split(counts, q)
    mass = sum(counts.values())
    head_mass = sum(counts[e] for e in head)
    ordered = [entity for entity, _ in sorted_by_count(counts)]
    return {
        "q": q,
        "entities": len(counts),
        "mentions": mass,
        "tau": tau_threshold(counts, q),
        "head": len(head),
        "tail": len(tail),
        "head_entity_share": round(len(head) / len(counts), 4) if counts else 0.0,
        "head_mass_share": round(head_mass / mass, 4) if mass else 0.0,
        "top_head": ordered[:5],
        "sample_tail": [e for e in ordered if e in tail][:: max(1, len(tail) // 5)][:5],
    }
