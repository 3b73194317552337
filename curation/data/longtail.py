"""The ADR long-tail rule (curation/methods/adr/README.md).

Per perspective k (token, object, co_occurrence, interrogation), entities are sorted by
their pool count n_e, descending; tau_k is the count of the entity at which the cumulative
mass first reaches q_k. Entities with n_e < tau_k are the tail. A sample (a pool item or a
benchmark item) is a tail item if, in ANY perspective where it has entities, the mean rank
of its entities lies beyond that perspective's cutoff rank (the number of head entities).

Pure Python: the ADR rebalancing method, ToyWorld and the evaluation breakdown share it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

DEFAULT_Q = 0.9
DEFAULT_Q_BY_PERSPECTIVE: dict[str, float] = {
    "token": 0.9,
    "object": 0.9,
    "co_occurrence": 0.75,
    "interrogation": 0.9,
}


def _check_q(q: float) -> Fraction:
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"long-tail mass q must lie in [0, 1], got {q}")
    # Through the decimal text so q=0.9 means exactly 9/10: float 0.9 is slightly above
    # 9/10 and would push tau one entity further whenever the mass lands exactly on 90%.
    return Fraction(repr(float(q)))


def sorted_by_count(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    """Entities by count, descending; ties keep the mapping's order (stable)."""
    return sorted(counts.items(), key=lambda item: -item[1])


def tau_threshold(counts: Mapping[str, int], q: float = DEFAULT_Q) -> int:
    """Count of the entity at which the cumulative mass first reaches q of the total.

    An empty table gives 0 (nothing is tail).
    """
    q_exact = _check_q(q)
    ordered = sorted_by_count(counts)
    if not ordered:
        return 0
    target = q_exact * sum(count for _, count in ordered)
    cumulative = 0
    for _, count in ordered:
        cumulative += count
        if cumulative >= target:
            return count
    return ordered[-1][1]  # unreachable: the full sum always reaches q * sum


def head_tail_split(counts: Mapping[str, int], q: float = DEFAULT_Q) -> tuple[set[str], set[str]]:
    """(head, tail) entity sets; tail = entities with n_e < tau."""
    tau = tau_threshold(counts, q)
    head = {entity for entity, count in counts.items() if count >= tau}
    return head, set(counts) - head


def rank_of(counts: Mapping[str, int]) -> dict[str, int]:
    """1-based rank of every entity by count, descending; ties ranked in the mapping's order."""
    return {entity: rank for rank, (entity, _) in enumerate(sorted_by_count(counts), start=1)}


def q_for(perspective: str, q: Mapping[str, float] | None) -> float:
    if q is not None and perspective in q:
        return q[perspective]
    return DEFAULT_Q_BY_PERSPECTIVE.get(perspective, DEFAULT_Q)


@dataclass(frozen=True)
class PerspectiveCutoff:
    """Ranks and cutoff of one perspective, computed once for many items."""

    ranks: dict[str, int]
    cutoff: int  # number of head entities: ranks 1..cutoff are head
    tau: int

    @classmethod
    def from_counts(cls, counts: Mapping[str, int], q: float) -> PerspectiveCutoff:
        tau = tau_threshold(counts, q)
        head_size = sum(1 for count in counts.values() if count >= tau)
        return cls(ranks=rank_of(counts), cutoff=head_size, tau=tau)

    def mean_rank(self, entities: Sequence[str]) -> float:
        """Mean rank of the entities; an entity absent from the pool ranks after all of it."""
        absent_rank = len(self.ranks) + 1
        return sum(self.ranks.get(entity, absent_rank) for entity in entities) / len(entities)


class LongTailRule:
    """is_tail_item with the per-perspective ranks precomputed (use for many items)."""

    def __init__(
        self,
        pool_counts: Mapping[str, Mapping[str, int]],
        q: Mapping[str, float] | None = None,
    ) -> None:
        self.cutoffs = {
            perspective: PerspectiveCutoff.from_counts(counts, q_for(perspective, q))
            for perspective, counts in pool_counts.items()
        }

    def tail_perspectives(self, item_entities: Mapping[str, Sequence[str]]) -> list[str]:
        """The perspectives in which the item's mean entity rank lies beyond the cutoff."""
        beyond = []
        for perspective, entities in item_entities.items():
            if not entities:
                continue  # a perspective where the item has no entities does not count
            if perspective not in self.cutoffs:
                raise KeyError(
                    f"item has {perspective!r} entities but the pool counts have no such "
                    f"perspective (have: {', '.join(sorted(self.cutoffs))})"
                )
            cutoff = self.cutoffs[perspective]
            if cutoff.mean_rank(entities) > cutoff.cutoff:
                beyond.append(perspective)
        return beyond

    def is_tail(self, item_entities: Mapping[str, Sequence[str]]) -> bool:
        return bool(self.tail_perspectives(item_entities))


def is_tail_item(
    item_entities: Mapping[str, Sequence[str]],
    pool_counts: Mapping[str, Mapping[str, int]],
    q: Mapping[str, float] | None = None,
) -> bool:
    """ADR's item rule: tail if, in ANY perspective, the mean rank of the item's entities lies
    beyond the perspective's cutoff rank. q defaults to 0.9 (co_occurrence 0.75)."""
    relevant = {p: e for p, e in item_entities.items() if e}
    return LongTailRule({p: pool_counts[p] for p in relevant if p in pool_counts}, q).is_tail(
        relevant
    )
