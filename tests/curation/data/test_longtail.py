"""The ADR long-tail rule on hand-built count tables (curation/methods/adr/README.md)."""

from __future__ import annotations

import pytest

from curation.data.longtail import (
    LongTailRule,
    PerspectiveCutoff,
    head_tail_split,
    is_tail_item,
    rank_of,
    tau_threshold,
)

COUNTS = {"a": 50, "b": 30, "c": 10, "d": 5, "e": 5}  # total 100


@pytest.mark.parametrize(
    ("q", "tau"),
    [
        (0.9, 10),  # 50, 80, 90: reaches 90 exactly at c
        (0.8, 30),  # exactly 80 at b (float 0.8 * 100 > 80 would wrongly move on to c)
        (0.75, 30),
        (0.5, 50),  # the first entity already holds half the mass
        (0.95, 5),  # 95 at d
        (0.96, 5),  # 100 at e, which has the same count
        (1.0, 5),
        (0.0, 50),  # q = 0: the first entity reaches it
    ],
)
def test_tau_on_a_hand_table(q: float, tau: int) -> None:
    assert tau_threshold(COUNTS, q) == tau


def test_tau_with_ties_across_the_boundary() -> None:
    counts = {"x": 5, "y": 3, "z": 3, "w": 1}  # total 12; 0.7 * 12 = 8.4
    assert tau_threshold(counts, 0.7) == 3  # 5, 8, 11: reached at z
    assert head_tail_split(counts, 0.7) == ({"x", "y", "z"}, {"w"})


def test_all_tied_counts_are_all_head() -> None:
    counts = {"a": 10, "b": 10, "c": 10, "d": 10}
    assert tau_threshold(counts, 0.5) == 10
    assert head_tail_split(counts, 0.5) == ({"a", "b", "c", "d"}, set())


def test_zero_counts_are_tail_even_at_q_one() -> None:
    counts = {"a": 5, "b": 2, "c": 0}
    assert tau_threshold(counts, 1.0) == 2
    assert head_tail_split(counts, 1.0) == ({"a", "b"}, {"c"})


def test_empty_and_single_tables() -> None:
    assert tau_threshold({}, 0.9) == 0
    assert head_tail_split({}, 0.9) == (set(), set())
    assert tau_threshold({"only": 3}, 0.9) == 3


@pytest.mark.parametrize("q", [-0.1, 1.01])
def test_q_outside_unit_interval_is_an_error(q: float) -> None:
    with pytest.raises(ValueError, match="q must lie in"):
        tau_threshold(COUNTS, q)


def test_rank_is_one_based_by_count_with_stable_ties() -> None:
    assert rank_of({"d": 5, "a": 50, "e": 5, "b": 30}) == {"a": 1, "b": 2, "d": 3, "e": 4}


def test_cutoff_is_the_number_of_head_entities() -> None:
    cutoff = PerspectiveCutoff.from_counts(COUNTS, 0.9)
    assert (cutoff.tau, cutoff.cutoff) == (10, 3)
    assert cutoff.mean_rank(["a", "missing"]) == (1 + 6) / 2  # absent ranks after all


# object: tau 50 at q = 0.9 (100, 150 >= 149.4), so the cutoff rank is 2.
POOL = {
    "object": {"cat": 100, "dog": 50, "cow": 10, "yak": 5, "emu": 1},
    "interrogation": {"what color": 90, "how many": 10},  # tau 90, cutoff 1
    "co_occurrence": {"p": 6, "q": 2, "r": 1, "s": 1},  # q 0.75: tau 2, cutoff 2
    "token": {"cat": 100, "dog": 50, "cow": 10, "yak": 5, "emu": 1},
}


@pytest.mark.parametrize(
    ("entities", "tail"),
    [
        ({"object": ["cat"]}, False),
        ({"object": ["cat", "cow"]}, False),  # mean rank 2 is not beyond cutoff 2
        ({"object": ["dog", "cow"]}, True),  # 2.5
        ({"object": ["unicorn"]}, True),  # absent from the pool: rank 6
        ({"object": ["cat", "unicorn"]}, True),  # 3.5
        ({"object": []}, False),  # no entities: the perspective does not count
        ({}, False),
        ({"object": ["cat"], "interrogation": ["how many"]}, True),  # ANY perspective
        ({"object": ["cat"], "interrogation": ["what color"]}, False),
        ({"object": ["cat"], "interrogation": []}, False),
        ({"co_occurrence": ["r"]}, True),  # rank 3 > 2 at the default q of 0.75
        ({"co_occurrence": ["q"]}, False),
        ({"token": ["cat", "cat", "emu"]}, True),  # per mention: (1 + 1 + 5) / 3
        ({"token": ["cat", "cat", "cat", "emu"]}, False),  # exactly 2
    ],
)
def test_is_tail_item_hand_cases(entities: dict[str, list[str]], tail: bool) -> None:
    assert is_tail_item(entities, POOL) is tail
    assert LongTailRule(POOL).is_tail(entities) is tail


def test_q_per_perspective_overrides_the_defaults() -> None:
    # At q = 0.9 the co-occurrence tau is 1 (6, 8, 9), so every pair is head.
    assert is_tail_item({"co_occurrence": ["r"]}, POOL, q={"co_occurrence": 0.9}) is False
    # At q = 0.5 the object tau is 100: only "cat" is head.
    assert is_tail_item({"object": ["dog"]}, POOL, q={"object": 0.5}) is True


def test_tail_perspectives_names_the_reasons() -> None:
    rule = LongTailRule(POOL)
    item = {"object": ["emu"], "interrogation": ["how many"], "token": ["cat"]}
    assert rule.tail_perspectives(item) == ["object", "interrogation"]


def test_unknown_perspective_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="no such perspective"):
        is_tail_item({"colour": ["red"]}, POOL)
