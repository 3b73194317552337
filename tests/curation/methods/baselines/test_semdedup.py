"""SemDeDup on hand-made embeddings: planted duplicates go, and only they; eps meets the budget."""

import numpy as np
import pytest

from curation.method import BudgetError
from curation.methods.baselines.semdedup import _clusters, dedup, semdedup


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _planted(seed: int = 0):
    """3 clusters of 20 spread-out points in 64-d, plus near-copies of 6 of them."""
    rng = np.random.default_rng(seed)
    centres = _unit(rng.normal(size=(3, 64))) * 4
    points, labels = [], []
    for c in range(3):
        points.append(centres[c] + rng.normal(size=(20, 64)))
        labels += [c] * 20
    originals = np.array([0, 5, 21, 33, 47, 59])
    copies = np.concatenate(points)[originals] + rng.normal(scale=1e-3, size=(6, 64))
    x = _unit(np.concatenate([*points, copies]))
    assignments = np.array(labels + [labels[i] for i in originals])
    centroids = _unit(np.stack([x[assignments == c].mean(0) for c in range(3)]))
    return x.astype(np.float32), assignments, centroids.astype(np.float32), originals


def test_removes_exactly_one_of_each_planted_duplicate_pair():
    x, assignments, centroids, originals = _planted()
    result = semdedup(x, assignments, centroids, budget=60)
    kept = set(result.indices.tolist())
    assert len(kept) == 60 and result.kept_at_eps == 60
    removed = set(range(66)) - kept
    pairs = list(zip(originals.tolist(), range(60, 66), strict=True))
    for original, copy in pairs:
        assert len({original, copy} & removed) == 1
        # the member kept is the one farther from its centroid
        c = centroids[assignments[original]]
        farther = original if x[original] @ c < x[copy] @ c else copy
        assert farther in kept
    duplicate_cosines = [x[a] @ x[b] for a, b in pairs]
    assert 0 < 1 - result.eps < min(duplicate_cosines)
    assert result.indices.tolist() == sorted(result.indices.tolist())


def test_a_point_is_dropped_only_for_a_kept_neighbour():
    """a, b, c at 0, 30 and 60 degrees, centroid at 90: visited a, b, c. b is a duplicate of a
    and c of b, but not of a; b is dropped, so c survives (the greedy-over-kept rule)."""
    angles = np.radians([0.0, 30.0, 60.0])
    x = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    clusters = _clusters(x, np.zeros(3, dtype=np.int64), np.array([[0.0, 1.0]], np.float32))
    kept, redundancy = dedup(clusters, threshold=0.8, n=3)
    assert sorted(kept.tolist()) == [0, 2]
    assert redundancy[1] == pytest.approx(np.cos(np.radians(30)), abs=1e-6)
    assert redundancy[2] == pytest.approx(0.5, abs=1e-6)  # only a (kept) counts for c
    assert semdedup(x, np.zeros(3, dtype=np.int64), np.array([[0.0, 1.0]]), 2).indices.tolist() == [
        0,
        2,
    ]


@pytest.mark.parametrize("budget", [3, 10, 25, 41, 65, 66])
def test_eps_search_meets_any_budget_exactly(budget):
    x, assignments, centroids, _ = _planted(seed=1)
    result = semdedup(x, assignments, centroids, budget)
    assert len(result.indices) == budget == len(set(result.indices.tolist()))
    assert result.kept_at_eps >= budget
    if budget == 66:
        assert result.eps == 0.0


def test_budget_below_the_number_of_clusters_is_an_error():
    x, assignments, centroids, _ = _planted()
    with pytest.raises(BudgetError, match="params.k"):
        semdedup(x, assignments, centroids, budget=2)
