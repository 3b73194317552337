"""Neighbour lists: the exact search against brute force (ties by position, self never listed),
the inverted-list search finds the exact graph when it probes every list and projects nothing,
and the recall of a graph against another on hand-made lists."""

import numpy as np
import pytest

from curation.methods.baselines.neighbours import default_lists, knn_recall, nearest_neighbours


def _brute_force(x: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    x = x.astype(np.float64)
    ids, values = [], []
    for i in range(len(x)):
        if metric == "l2":
            value = np.sqrt(((x - x[i]) ** 2).sum(1))
            order = sorted((j for j in range(len(x)) if j != i), key=lambda j: (value[j], j))
        else:
            value = x @ x[i]
            order = sorted((j for j in range(len(x)) if j != i), key=lambda j: (-value[j], j))
        ids.append(order[:k])
        values.append(value[order[:k]])
    return np.array(ids), np.array(values)


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_exact_search_equals_brute_force(metric):
    x = np.random.default_rng(0).normal(size=(150, 12)).astype(np.float32)
    found = nearest_neighbours(x, 7, metric)
    ids, values = _brute_force(x, 7, metric)
    assert found.ids.tolist() == ids.tolist()
    np.testing.assert_allclose(found.values, values, rtol=1e-12)


def test_ties_go_to_the_lower_position_and_self_is_never_listed():
    # rows 0, 1, 2 are the same point; 3 and 4 are at the same distance from it
    x = np.array([[0, 0], [0, 0], [0, 0], [1, 0], [-1, 0], [5, 5]], dtype=np.float32)
    found = nearest_neighbours(x, 3, "l2")
    assert found.ids[0].tolist() == [1, 2, 3]
    assert found.ids[1].tolist() == [0, 2, 3]
    assert found.ids[4].tolist() == [0, 1, 2]
    assert all(i not in row for i, row in enumerate(found.ids.tolist()))


@pytest.mark.parametrize("metric, seed", [("l2", 0), ("l2", 1), ("ip", 2), ("ip", 3)])
def test_probing_every_list_finds_the_exact_graph(metric, seed):
    x = np.random.default_rng(seed).normal(size=(300, 10)).astype(np.float32)
    if metric == "ip":
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    exact = nearest_neighbours(x, 5, metric)
    approx = nearest_neighbours(x, 5, metric, lists=6, probes=6, search_dim=None, seed=seed)
    assert approx.ids.tolist() == exact.ids.tolist()
    np.testing.assert_allclose(approx.values, exact.values, rtol=1e-12)


def test_few_probes_on_separated_clusters_keep_the_graph():
    """Four clusters far apart: whatever lists k-means makes, each point's neighbours are in
    its own cluster, which the lists probed from it cover when every list probes all four
    nearest lists; the principal-component search (2 of 16 dims) still separates them."""
    rng = np.random.default_rng(4)
    centres = np.eye(16)[:4] * 100
    x = np.concatenate([c + rng.normal(size=(50, 16)) for c in centres]).astype(np.float32)
    exact = nearest_neighbours(x, 3, "l2")
    approx = nearest_neighbours(x, 3, "l2", lists=4, probes=2, search_dim=3, seed=0)
    cluster = np.arange(200) // 50
    assert (cluster[approx.ids] == cluster[:, None]).all()
    assert knn_recall(approx.ids, exact.ids) >= 0.5  # found within the cluster; exact values
    same = approx.ids == exact.ids
    np.testing.assert_allclose(approx.values[same], exact.values[same], rtol=1e-12)


def test_recall_counts_shared_edges():
    exact = np.array([[1, 2], [0, 2], [0, 1]])
    found = np.array([[2, 3], [2, 0], [3, 4]])  # row 0: 1 of 2, row 1: 2 of 2, row 2: none
    assert knn_recall(found, exact) == pytest.approx(3 / 6)
    assert knn_recall(exact, exact) == 1.0
    with pytest.raises(ValueError, match="shape"):
        knn_recall(found[:, :1], exact)


def test_default_lists_and_bad_arguments():
    assert default_lists(665_298) == 816
    assert default_lists(1) == 1
    x = np.zeros((5, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="1 <= k < number of rows"):
        nearest_neighbours(x, 5)
    with pytest.raises(ValueError, match="metric"):
        nearest_neighbours(x, 2, "cosine")
