"""The oracle's water-filling over (concept, skill) cells, on pools whose answer is known."""

from collections import Counter

import numpy as np
import pytest

from curation.methods.oracle.balance import balanced_selection

A, B, C = ("red circle", "colour"), ("blue star", "shape"), ("green heart", "counting")


def _one_cell_pool(sizes: dict) -> list[list[tuple[str, str]]]:
    return [[cell] for cell, n in sizes.items() for _ in range(n)]


@pytest.mark.parametrize(
    ("budget", "expected"),
    [
        # the rarest cell first, then every cell with the fewest kept, rarer first on ties
        (1, {C: 1}),
        (3, {A: 1, B: 1, C: 1}),
        (5, {A: 2, B: 2, C: 1}),  # C has nothing left after its one record
        (6, {A: 2, B: 3, C: 1}),  # B is rarer than A in the pool: it gets the tie
        (9, {A: 5, B: 3, C: 1}),  # only A has records left
    ],
)
def test_the_least_covered_cell_gets_each_pick(budget, expected):
    cells_of = _one_cell_pool({A: 10, B: 3, C: 1})
    picks, kept = balanced_selection(cells_of, budget, np.random.default_rng(0))
    assert len(picks) == len(set(picks.tolist())) == budget
    assert Counter(cells_of[i][0] for i in picks.tolist()) == expected
    assert kept == {A: expected.get(A, 0), B: expected.get(B, 0), C: expected.get(C, 0)}


def test_a_record_counts_for_every_cell_it_covers():
    # A's one record also covers B: after it, B is covered once and C (more common than B in
    # the pool, so second on a tie) is the cell kept least
    cells_of = [[A, B], [B], [B], [C], [C], [C], [C]]
    picks, kept = balanced_selection(cells_of, 2, np.random.default_rng(0))
    assert picks[0] == 0 and picks[1] in {3, 4, 5, 6}
    assert kept == {A: 1, B: 1, C: 1}


def test_the_whole_pool_when_the_budget_allows():
    cells_of = _one_cell_pool({A: 4, B: 2})
    picks, _ = balanced_selection(cells_of, 10, np.random.default_rng(0))
    assert sorted(picks.tolist()) == list(range(6))


def test_seeded_draws_within_a_cell():
    cells_of = _one_cell_pool({A: 50, B: 50})
    first = balanced_selection(cells_of, 10, np.random.default_rng(3))[0]
    again = balanced_selection(cells_of, 10, np.random.default_rng(3))[0]
    other = balanced_selection(cells_of, 10, np.random.default_rng(4))[0]
    assert first.tolist() == again.tolist()
    assert set(first.tolist()) != set(other.tolist())
