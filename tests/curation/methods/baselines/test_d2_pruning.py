"""D2-Pruning on points on a line: the graph, the forward pass and the greedy reverse passes
match a trace computed by hand; on random features the default (undirected) rule equals a
straightforward re-implementation of the D2 authors' GraphDensitySampler rule."""

import math

import numpy as np
import pytest

from curation.methods.baselines.d2_pruning import (
    D2Params,
    Graph,
    build_graph,
    d2_select,
    forward_messages,
    knn_graph,
    knn_settings,
    reverse_greedy,
)
from curation.methods.baselines.neighbours import HnswSettings

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


def _lists(graph: Graph) -> list[list[int]]:
    return [graph.neighbours[graph.start[i] : graph.start[i + 1]].tolist() for i in range(5)]


def test_undirected_graph_adds_the_reverse_of_every_edge_once():
    directed, undirected = build_graph(POINTS, 1, "directed"), build_graph(POINTS, 1)
    assert _lists(directed) == [[1], [0], [3], [2], [3]]
    assert _lists(undirected) == [[1], [0], [3], [2, 4], [3]]  # 4->3 gives 3 the edge 3-4
    assert undirected.distances.tolist() == [1.0, 1.0, 0.5, 0.5, 6.5, 6.5]
    # k=2: 0-2 is listed by 0 only, 1-3 and 2-4 by 3 and 4 only; nearest first, ties by position
    assert _lists(build_graph(POINTS, 2)) == [[1, 2], [0, 2, 3], [3, 1, 0, 4], [2, 1, 4], [3, 2]]


def test_forward_then_reverse_message_passing_matches_the_hand_trace():
    graph = build_graph(POINTS, 1, "directed")
    s = forward_messages(IMPORTANCE, graph, gamma=1.0)
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
    order = reverse_greedy(s, graph, gamma=0.4, budget=5)
    assert order.tolist() == [4, 1, 2, 0, 3]
    assert reverse_greedy(s, graph, gamma=0.4, budget=2).tolist() == [4, 1]


def test_undirected_and_directed_graphs_pick_differently_by_hand():
    """Points 0, 1, 3, 3.5, 5 (k=1: 0<->1, 2<->3, 4->3). Only the undirected graph lets 4 hear
    from 3 and 3 from 4, so taking 3 first lowers 4 there and not in the directed graph."""
    x = np.array([[0.0], [1.0], [3.0], [3.5], [5.0]])
    imp = np.array([1.0, 2.0, 0.5, 3.0, 2.5])
    s = [1 + 2 * E(-1), 2 + E(-1), 0.5 + 3 * E(-0.5), 3 + 0.5 * E(-0.5), 2.5 + 3 * E(-1.5)]
    # directed: take 3 (3.303): s2 -> 2.320 - e^-0.2 3.303 = -0.385; take 4 (3.169); take 1
    # (2.368): s0 -> 1.736 - e^-0.4 2.368 = 0.149; then 0, then 2
    order, scores = d2_select(x, imp, 5, n_neighbors=1, graph="directed")
    assert scores.tolist() == pytest.approx(s)
    assert order.tolist() == [3, 4, 1, 0, 2]
    # undirected: s3 also hears 4: 3.303 + 2.5 e^-1.5 = 3.861; take 3: s2 -> -0.842 and
    # s4 -> 3.169 - e^-0.6 3.861 = 1.050; take 1 (2.368): s0 -> 0.149; take 4; then 0, then 2
    s[3] += 2.5 * E(-1.5)
    order, scores = d2_select(x, imp, 5, n_neighbors=1)
    assert scores.tolist() == pytest.approx(s)
    assert order.tolist() == [3, 1, 4, 0, 2]


def test_without_message_passing_it_is_a_top_k_of_importance():
    graph = build_graph(POINTS, 1)
    s = forward_messages(IMPORTANCE, graph, gamma=1e6)
    assert s.tolist() == pytest.approx(IMPORTANCE.tolist())
    order = reverse_greedy(s, graph, gamma=1e6, budget=5)
    assert order.tolist() == [4, 1, 0, 2, 3]  # ties in pool order


def test_d2_select_clips_missing_and_negative_importance():
    importance = np.array([np.nan, -0.5, 0.2, 0.1, 0.3])
    order, scores = d2_select(POINTS, importance, budget=3, n_neighbors=1, graph="directed")
    # 0: nothing (NaN) + e^-1 * nothing (clipped -0.5); 2: 0.2 + e^-0.5 * 0.1
    np.testing.assert_allclose(
        scores, [0.0, 0.0, 0.2 + E(-0.5) * 0.1, 0.1 + E(-0.5) * 0.2, 0.3 + E(-6.5) * 0.1]
    )
    # take 4 (s3 -> 0.1990), then 2 (0.2607; s3 -> 0.1990 - e^-0.2 * 0.2607 = -0.0144),
    # then 0 (0, tied with 1: the lower position) before 3
    assert order.tolist() == [4, 2, 0]


def _graph_density_rule(x, importance, k, gamma_f, gamma_r, budget):
    """The D2 authors' GraphDensitySampler (sum mode, weighted reverse passing) as its paper and
    code describe it, written plainly over dense matrices: a kNN graph made symmetric, node
    score = own importance + sum over neighbours of exp(-gamma_f d) * their importance; then
    repeatedly take the highest score (first on ties), subtract exp(-gamma_r d) * its score from
    every neighbour, and push the taken nodes below everything."""
    n = len(x)
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    adjacent = np.zeros((n, n), dtype=bool)
    for i in range(n):
        others = [j for j in np.argsort(d[i], kind="stable") if j != i][:k]
        adjacent[i, others] = True
    adjacent |= adjacent.T
    density = importance + (adjacent * np.exp(-gamma_f * d) * importance[None, :]).sum(1)
    taken: list[int] = []
    while len(taken) < budget:
        i = int(np.argmax(density))
        hit = np.flatnonzero(adjacent[i])
        density[hit] -= np.exp(-gamma_r * d[i, hit]) * density[i]
        taken.append(i)
        density[taken] = density.min() - 1
    return taken


@pytest.mark.parametrize("seed, k", [(0, 1), (1, 3), (2, 5), (3, 10)])
def test_default_rule_equals_the_authors_graph_density_sampler(seed, k):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(80, 6))
    importance = rng.uniform(0.1, 1.0, size=80)
    order, _ = d2_select(x, importance, 80, n_neighbors=k, gamma_forward=1.0, gamma_reverse=0.4)
    expected = _graph_density_rule(x, importance, k, 1.0, 0.4, 80)
    assert order.tolist() == expected
    directed, _ = d2_select(x, importance, 80, n_neighbors=k, graph="directed")
    assert directed[:40].tolist() != expected[:40]  # the rule the option keeps is another one


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


# --- at scale: the approximate neighbour graph --------------------------------------------


@pytest.mark.parametrize("graph", ["undirected", "directed"])
def test_approximate_graph_probing_every_list_selects_as_the_exact_one(graph):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(200, 8)).astype(np.float32)
    importance = rng.uniform(0.1, 1.0, size=200)
    exact, exact_scores = d2_select(x, importance, 60, n_neighbors=4, graph=graph)
    settings = HnswSettings(m=32, ef_construction=100, ef_search=1000, search_dim=None)
    approx, approx_scores = d2_select(
        x, importance, 60, n_neighbors=4, graph=graph, approximate=settings
    )
    assert approx.tolist() == exact.tolist()
    np.testing.assert_allclose(approx_scores, exact_scores, rtol=1e-6)  # exact L2 vs faiss float32


def test_the_graph_turns_approximate_from_the_configured_pool_size():
    p = D2Params(approximate_from=1000, knn_m=8, knn_search_dim=0)
    assert knn_settings(p, 999) is None
    assert knn_settings(p, 999, force_approximate=True) == HnswSettings(8, 200, 384, None)
    assert knn_settings(D2Params(), 10**6) == HnswSettings(32, 200, 384, 256)
