"""Neighbour lists: the exact search against brute force (ties by position, self never listed),
the HNSW search finds the exact graph when it visits every row and projects nothing, and the
recall of a graph against another on hand-made lists."""

import numpy as np
import pytest

from curation.methods.baselines.neighbours import HnswSettings, knn_recall, nearest_neighbours


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
def test_a_search_that_visits_every_row_finds_the_exact_graph(metric, seed):
    x = np.random.default_rng(seed).normal(size=(300, 10)).astype(np.float32)
    if metric == "ip":
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    exact = nearest_neighbours(x, 5, metric)
    wide = HnswSettings(m=32, ef_construction=100, ef_search=1000, search_dim=None)
    approx = nearest_neighbours(x, 5, metric, wide)
    assert approx.ids.tolist() == exact.ids.tolist()
    np.testing.assert_allclose(approx.values, exact.values, rtol=1e-12)


def test_projected_search_keeps_exact_values_and_is_deterministic():
    """Four clusters far apart in 16-d: searched in 3 principal components, each point's
    neighbours are still in its own cluster; values are exact distances; same rows, same
    graph."""
    rng = np.random.default_rng(4)
    centres = np.eye(16)[:4] * 100
    x = np.concatenate([c + rng.normal(size=(50, 16)) for c in centres]).astype(np.float32)
    settings = HnswSettings(m=8, ef_construction=40, ef_search=16, search_dim=3)
    approx = nearest_neighbours(x, 3, "l2", settings)
    cluster = np.arange(200) // 50
    assert (cluster[approx.ids] == cluster[:, None]).all()
    expected = np.sqrt(((x[approx.ids].astype(np.float64) - x[:, None, :]) ** 2).sum(-1))
    np.testing.assert_allclose(approx.values, expected, rtol=1e-12)
    assert (np.diff(approx.values, axis=1) >= 0).all()
    again = nearest_neighbours(x, 3, "l2", settings)
    assert again.ids.tolist() == approx.ids.tolist()


def test_recall_counts_shared_edges():
    exact = np.array([[1, 2], [0, 2], [0, 1]])
    found = np.array([[2, 3], [2, 0], [3, 4]])  # row 0: 1 of 2, row 1: 2 of 2, row 2: none
    assert knn_recall(found, exact) == pytest.approx(3 / 6)
    assert knn_recall(exact, exact) == 1.0
    with pytest.raises(ValueError, match="shape"):
        knn_recall(found[:, :1], exact)


def test_bad_arguments():
    x = np.zeros((5, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="1 <= k < number of rows"):
        nearest_neighbours(x, 5)
    with pytest.raises(ValueError, match="metric"):
        nearest_neighbours(x, 2, "cosine")
