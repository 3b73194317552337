"""D2-Pruning on points on a line: the graph, the forward pass and the greedy reverse passes
match a trace computed by hand."""

import math

import numpy as np
import pytest

from curation.methods.baselines.d2_pruning import (
    d2_select,
    forward_messages,
    knn_graph,
    reverse_greedy,
)

# five points on a line; with k=1 the nearest neighbours are 0<->1, 2<->3 and 4->3
POINTS = np.array([[0.0], [1.0], [3.0], [3.5], [10.0]])
IMPORTANCE = np.array([1.0, 2.0, 1.0, 1.0, 3.0])
E = math.exp


def test_knn_graph_excludes_self_and_orders_by_distance():
    neighbours, distances = knn_graph(POINTS, k=2)
    assert neighbours.tolist() == [[1, 2], [0, 2], [3, 1], [2, 1], [3, 2]]
    np.testing.assert_allclose(distances, [[1, 3], [1, 2], [0.5, 2], [0.5, 2.5], [6.5, 7]])


def test_knn_graph_with_exact_duplicates_never_lists_self():
    x = np.array([[0.0], [0.0], [0.0], [5.0]])
    neighbours, distances = knn_graph(x, k=2)
    for i, row in enumerate(neighbours.tolist()):
        assert i not in row
    assert distances[:3].tolist() == [[0, 0]] * 3


def test_forward_then_reverse_message_passing_matches_the_hand_trace():
    neighbours, distances = knn_graph(POINTS, k=1)
    s = forward_messages(IMPORTANCE, neighbours, distances, gamma=1.0)
    hand = [1 + E(-1) * 2, 2 + E(-1) * 1, 1 + E(-0.5) * 1, 1 + E(-0.5) * 1, 3 + E(-6.5) * 1]
    assert s.tolist() == pytest.approx(hand)
    # greedy with gamma_r = 0.4:
    #   take 4 (3.0015): s3 -= e^(-0.4*6.5) s4 -> 1.3836
    #   take 1 (2.3679): s0 -= e^(-0.4*1) s1   -> 0.1485
    #   take 2 (1.6065): s3 -= e^(-0.4*0.5) s2 -> 0.0683
    #   take 0 (0.1485) before 3 (0.0683)
    s3 = hand[3] - E(-0.4 * 6.5) * hand[4]
    s0 = hand[0] - E(-0.4) * hand[1]
    s3 -= E(-0.2) * hand[2]
    assert s0 > s3 > 0
    order = reverse_greedy(s, neighbours, distances, gamma=0.4, budget=5)
    assert order.tolist() == [4, 1, 2, 0, 3]
    assert reverse_greedy(s, neighbours, distances, gamma=0.4, budget=2).tolist() == [4, 1]


def test_without_message_passing_it_is_a_top_k_of_importance():
    neighbours, distances = knn_graph(POINTS, k=1)
    s = forward_messages(IMPORTANCE, neighbours, distances, gamma=1e6)
    assert s.tolist() == pytest.approx(IMPORTANCE.tolist())
    order = reverse_greedy(s, neighbours, distances, gamma=1e6, budget=5)
    assert order.tolist() == [4, 1, 0, 2, 3]  # ties in pool order


def test_d2_select_clips_missing_and_negative_importance():
    importance = np.array([np.nan, -0.5, 0.2, 0.1, 0.3])
    order, scores = d2_select(POINTS, importance, budget=3, n_neighbors=1)
    # 0: nothing (NaN) + e^-1 * nothing (clipped -0.5); 2: 0.2 + e^-0.5 * 0.1
    np.testing.assert_allclose(
        scores, [0.0, 0.0, 0.2 + E(-0.5) * 0.1, 0.1 + E(-0.5) * 0.2, 0.3 + E(-6.5) * 0.1]
    )
    # take 4 (s3 -> 0.1990), then 2 (0.2607; s3 -> 0.1990 - e^-0.2 * 0.2607 = -0.0144),
    # then 0 (0, tied with 1: the lower position) before 3
    assert order.tolist() == [4, 2, 0]


def test_more_neighbours_than_the_pool_allows_is_a_config_error(tmp_path):
    from configs.compose import ConfigError
    from curation.method import CurationContext
    from curation.methods.baselines.d2_pruning import D2Params, D2Selection

    ctx = CurationContext(
        pool_path=tmp_path / "pool.json",
        image_root=None,
        records=[{}] * 5,
        pool_sha256="0" * 64,
        cache_dir=tmp_path,
        run_dir=tmp_path,
        seed=0,
    )
    with pytest.raises(ConfigError, match="params.n_neighbors"):
        D2Selection(D2Params(n_neighbors=5)).select(ctx, 2)
