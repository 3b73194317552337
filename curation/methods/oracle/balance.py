"""Balanced (concept, skill) coverage within a budget: greedy water-filling over cells."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from curation.methods.oracle.ground_truth import Cell


def balanced_selection(
    cells_of: Sequence[Sequence[Cell]], budget: int, rng: np.random.Generator
) -> tuple[np.ndarray, dict[Cell, int]]:
    """Pick `budget` records so that the least-covered cells are covered as much as possible.

    Each pick goes to the cell with the fewest kept records so far, ties to the cell rarer in
    the pool, then to a seeded order of cells; within the cell, to its next unkept record in a
    seeded order. A kept record counts for every cell it covers. Cells whose records are all
    kept drop out. Returns the indices in pick order and the kept count of every cell.
    """
    cells = sorted({cell for record in cells_of for cell in record})
    number = {cell: i for i, cell in enumerate(cells)}
    members: list[list[int]] = [[] for _ in cells]
    for record, record_cells in enumerate(cells_of):
        for cell in record_cells:
            members[number[cell]].append(record)
    pool_count = np.array([len(m) for m in members])
    tie_break = rng.permutation(len(cells))
    # every cell's place in the order "rarer in the pool first, then the seeded tie-break"
    static_rank = np.empty(len(cells), dtype=np.float64)
    static_rank[np.lexsort((tie_break, pool_count))] = np.arange(len(cells))
    queues = [rng.permutation(m).tolist() for m in members]
    heads = [0] * len(cells)
    kept_per_cell = np.zeros(len(cells), dtype=np.int64)
    priority = static_rank.copy()  # kept count x cells + static rank: one argmin per pick
    kept = np.zeros(len(cells_of), dtype=bool)
    picks: list[int] = []
    while len(picks) < budget and np.isfinite(priority).any():
        cell = int(np.argmin(priority))
        queue = queues[cell]
        while heads[cell] < len(queue) and kept[queue[heads[cell]]]:
            heads[cell] += 1
        if heads[cell] == len(queue):
            priority[cell] = np.inf
            continue
        record = queue[heads[cell]]
        kept[record] = True
        picks.append(record)
        for covered in {number[c] for c in cells_of[record]}:
            kept_per_cell[covered] += 1
            if np.isfinite(priority[covered]):
                priority[covered] = kept_per_cell[covered] * len(cells) + static_rank[covered]
    return np.asarray(picks, dtype=np.int64), {
        cell: int(kept_per_cell[i]) for i, cell in enumerate(cells)
    }
