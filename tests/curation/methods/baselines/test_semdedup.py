"""SemDeDup on hand-made embeddings: planted duplicates go, and only they; eps meets the budget;
the default drop rule equals a plain re-implementation of the paper's (any earlier point of the
cluster counts), drop_rule=kept is the greedy-over-kept option."""

import numpy as np
import pytest

from curation.method import BudgetError
from curation.methods.baselines.semdedup import _clusters, dedup, redundancy_to_earlier, semdedup


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


def _chain():
    """a, b, c at 0, 30 and 60 degrees, centroid at 90: visited a, b, c. b is a duplicate of a
    and c of b, but not of a (threshold 0.8: cos 30 = 0.866, cos 60 = 0.5)."""
    angles = np.radians([0.0, 30.0, 60.0])
    x = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    centroid = np.array([[0.0, 1.0]], np.float32)
    return x, _clusters(x, np.zeros(3, dtype=np.int64), centroid), centroid


def test_by_default_a_point_is_dropped_for_any_earlier_neighbour():
    x, clusters, centroid = _chain()
    kept, redundancy = dedup(clusters, threshold=0.8, n=3)
    assert sorted(kept.tolist()) == [0]  # b for a, c for b (dropped or not)
    assert redundancy[1] == pytest.approx(np.cos(np.radians(30)), abs=1e-6)
    assert redundancy[2] == pytest.approx(np.cos(np.radians(30)), abs=1e-6)  # b counts for c
    assert redundancy[0] == -2  # nothing before the first
    assert semdedup(x, np.zeros(3, dtype=np.int64), centroid, 2).indices.tolist() == [0, 2]


def test_with_drop_rule_kept_a_point_is_dropped_only_for_a_kept_neighbour():
    x, clusters, centroid = _chain()
    kept, redundancy = dedup(clusters, threshold=0.8, n=3, rule="kept")
    assert sorted(kept.tolist()) == [0, 2]  # b is dropped, so c survives
    assert redundancy[1] == pytest.approx(np.cos(np.radians(30)), abs=1e-6)
    assert redundancy[2] == pytest.approx(0.5, abs=1e-6)  # only a (kept) counts for c
    chosen = semdedup(x, np.zeros(3, dtype=np.int64), centroid, 2, rule="kept").indices
    assert chosen.tolist() == [0, 2]


def _paper_rule(x, assignments, centroids, eps):
    """SemDeDup as the paper's pseudo-code and the authors' code state it, per cluster: order the
    members by cosine to the centroid, lowest first ("keep hard"); take the upper triangle of
    their cosine matrix; a member is removed when the max of its column (its cosine to the
    members before it) exceeds 1 - eps. Plain loops, no shared code."""
    kept = []
    for c in sorted(set(assignments.tolist())):
        members = [i for i in range(len(x)) if assignments[i] == c]
        members.sort(key=lambda i: (float(x[i] @ centroids[c]), i))
        for j, point in enumerate(members):
            before = [float(x[point] @ x[other]) for other in members[:j]]
            if not before or max(before) <= 1 - eps:
                kept.append(point)
    return sorted(kept)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_default_rule_equals_the_papers_at_fixed_eps(seed):
    x, assignments, centroids, _ = _planted(seed)
    # looser thresholds than the planted copies need: chains of near neighbours appear
    x = _unit(x + np.random.default_rng(seed).normal(scale=0.3, size=x.shape)).astype(np.float32)
    clusters = _clusters(x, assignments, centroids)
    differs = False
    for eps in (0.0, 0.3, 0.6, 0.8, 0.9, 1.0):
        expected = _paper_rule(x, assignments, centroids, eps)
        assert sorted(dedup(clusters, 1 - eps, len(x))[0].tolist()) == expected, eps
        greedy = sorted(dedup(clusters, 1 - eps, len(x), rule="kept")[0].tolist())
        differs |= greedy != expected
        assert set(expected) <= set(greedy)  # dropping for any earlier point drops more
    assert differs  # the option is another rule on these sets


@pytest.mark.parametrize("budget", [10, 30, 50])
def test_budget_keeps_the_points_least_similar_to_earlier_ones(budget):
    """At the searched eps the paper's rule keeps every point whose max cosine to earlier
    members is at most 1 - eps: with distinct maxima, the `budget` points of lowest max."""
    x, assignments, centroids, _ = _planted(seed=3)
    x = _unit(x + np.random.default_rng(3).normal(scale=0.3, size=x.shape)).astype(np.float32)
    score = {}
    for c in range(3):
        members = sorted(np.flatnonzero(assignments == c), key=lambda i: (x[i] @ centroids[c], i))
        for j, point in enumerate(members):
            score[point] = max((float(x[point] @ x[o]) for o in members[:j]), default=-2.0)
    later = [v for v in score.values() if v > -2]  # -2: each cluster's first, always kept
    assert len(set(later)) == len(later) == len(score) - 3  # no ties: one right answer
    expected = sorted(sorted(score, key=score.get)[:budget])
    result = semdedup(x, assignments, centroids, budget)
    assert result.indices.tolist() == expected
    assert result.kept_at_eps == budget


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


@pytest.mark.parametrize("block_rows", [1, 4, 2048])
def test_blocked_redundancy_equals_the_per_cluster_matrices(block_rows):
    rng = np.random.default_rng(6)
    x = _unit(rng.normal(size=(90, 16))).astype(np.float32)
    assignments = rng.integers(0, 4, size=90)
    centroids = _unit(np.stack([x[assignments == c].mean(0) for c in range(4)]))
    centroids = centroids.astype(np.float32)
    dense = dedup(_clusters(x, assignments, centroids), 0.5, len(x))[1]
    blocked = redundancy_to_earlier(x, assignments, centroids, block_rows=block_rows)
    assert blocked.dtype == np.float32
    np.testing.assert_allclose(blocked, dense, atol=1e-6)
    assert (blocked == -2).sum() == 4  # each cluster's first point
