"""D2-Pruning (Maharana et al., ICLR 2024): message passing over a data graph.

Graph: each record's k nearest neighbours (exact, Euclidean, self excluded) among the reference
LVLM's mean-pooled last-layer states (the shared cached pass, "mean_last"). `graph: undirected`
(default, the D2 authors' GraphDensitySampler) links i and j when either is among the other's
k nearest, so a node can have more than k neighbours; `directed` keeps only each record's own k
(D2's precomputed-graph path and COINCIDE's copy).
Importance s: AUM (mean over answer tokens of p_target - max p_other; higher = easier, as in
COINCIDE's D2 baseline) or EL2N; a NaN (no answer token) or negative importance counts as 0,
as D2's code clips importance at 1e-7.
Forward message passing, once:   s_i <- s_i + sum_{j in N(i)} exp(-gamma_f d_ij) s_j
Reverse message passing, greedy: take the argmax of s (ties: lowest pool position), then for its
untaken neighbours j in N(i): s_j <- s_j - exp(-gamma_r d_ij) s_i; repeat until the budget.
Output: pool positions in the order they were taken.

D2's and COINCIDE's code search neighbours with a faiss IVF-PQ index, whose distances are
approximate squared L2; ours are exact L2 distances (as GraphDensitySampler's sklearn graph).
From `approximate_from` records on, the neighbour SET is approximate (an HNSW graph searched in
the top principal components, curation/methods/baselines/neighbours.py); the distances of the
edges found stay exact.
"""

from __future__ import annotations

import dataclasses
import heapq
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from configs.compose import ConfigError, choice
from curation.features.reference_pass import (
    ReferenceParams,
    ReferencePassMethod,
    answer_stat,
    provenance,
    reference_features,
)
from curation.method import CurationContext, Selection
from curation.methods.baselines.neighbours import HnswSettings, nearest_neighbours
from curation.methods.baselines.scoring import score_summary

IMPORTANCE = ("aum", "el2n")
GRAPHS = ("undirected", "directed")


@dataclass
class D2Params(ReferenceParams):
    importance: str = choice("aum", IMPORTANCE)
    graph: str = choice("undirected", GRAPHS)
    n_neighbors: int = 5
    gamma_forward: float = 1.0
    gamma_reverse: float = 0.4
    # from this pool size on the kNN graph is approximate (exact kNN is O(N^2 D))
    approximate_from: int = 100_000
    knn_m: int = 32  # HNSW links per node
    knn_ef_construction: int = 200
    knn_ef_search: int = 384
    knn_search_dim: int = 256  # principal components the graph is searched in (0: all)


def knn_settings(p: D2Params, n: int, force_approximate: bool = False) -> HnswSettings | None:
    """The approximate search's settings for a pool of n records, or None (exact) below
    `approximate_from`."""
    if n < p.approximate_from and not force_approximate:
        return None
    return HnswSettings(p.knn_m, p.knn_ef_construction, p.knn_ef_search, p.knn_search_dim or None)


@dataclass(frozen=True)
class Graph:
    """Adjacency lists in CSR form: node i's neighbours are neighbours[start[i]:start[i + 1]],
    nearest first (ties: lower position first), with their Euclidean distances."""

    start: np.ndarray  # (N + 1,) int64
    neighbours: np.ndarray  # (E,) int64
    distances: np.ndarray  # (E,) float64

    def __len__(self) -> int:
        return len(self.start) - 1

    @classmethod
    def directed(cls, neighbours: np.ndarray, distances: np.ndarray) -> Graph:
        """Each row of the (N, k) kNN arrays as that node's neighbour list."""
        n, k = neighbours.shape
        return cls(
            np.arange(0, n * k + 1, k, dtype=np.int64),
            neighbours.reshape(-1).astype(np.int64),
            distances.reshape(-1).astype(np.float64),
        )

    @classmethod
    def undirected(cls, neighbours: np.ndarray, distances: np.ndarray) -> Graph:
        """The kNN edges made symmetric: j is i's neighbour when either lists the other."""
        n, k = neighbours.shape
        rows = np.repeat(np.arange(n, dtype=np.int64), k)
        cols = neighbours.reshape(-1).astype(np.int64)
        dist = distances.reshape(-1).astype(np.float64)
        source = np.concatenate([rows, cols])
        target = np.concatenate([cols, rows])
        length = np.concatenate([dist, dist])
        order = np.lexsort((target, length, source))  # by node, then nearest, then position
        source, target, length = source[order], target[order], length[order]
        # an edge listed by both ends appears twice, adjacent after the sort: keep one
        first = np.ones(len(source), dtype=bool)
        first[1:] = (source[1:] != source[:-1]) | (target[1:] != target[:-1])
        source, target, length = source[first], target[first], length[first]
        start = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(source, minlength=n), out=start[1:])
        return cls(start, target, length)


def knn_graph(x: np.ndarray, k: int, block_rows: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k nearest other rows by Euclidean distance: (neighbours int64, distances
    float64), both (N, k), nearest first (ties: lower position first)."""
    import faiss

    x = np.ascontiguousarray(x, dtype=np.float32)
    n = len(x)
    if not 1 <= k < n:
        raise ValueError(f"D2-Pruning needs 1 <= n_neighbors < pool size ({n}), got {k}")
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    neighbours = np.empty((n, k), dtype=np.int64)
    distances = np.empty((n, k), dtype=np.float64)
    for start in range(0, n, block_rows):
        block = x[start : start + block_rows]
        found_d, found = index.search(block, k + 1)
        for row, (ids, sq) in enumerate(zip(found, found_d, strict=True)):
            i = start + row
            keep = ids != i
            if keep.all():  # self not among the k+1 (duplicates at distance 0): drop the last
                keep[-1] = False
            ids, sq = ids[keep][:k], sq[keep][:k]
            order = np.lexsort((ids, sq))
            neighbours[i], distances[i] = ids[order], np.sqrt(np.maximum(sq[order], 0.0))
    return neighbours, distances


def build_graph(
    x: np.ndarray,
    k: int,
    kind: str = "undirected",
    approximate: HnswSettings | None = None,
) -> Graph:
    """The kNN graph of the rows of x: exact, or approximate with these HNSW settings."""
    if kind not in GRAPHS:
        raise ValueError(f"graph must be one of {'|'.join(GRAPHS)}, got {kind!r}")
    if approximate is None:
        neighbours, distances = knn_graph(x, k)
    else:
        found = nearest_neighbours(x, k, "l2", approximate)
        neighbours, distances = found.ids, found.values
    if kind == "undirected":
        return Graph.undirected(neighbours, distances)
    return Graph.directed(neighbours, distances)


def forward_messages(importance: np.ndarray, graph: Graph, gamma: float) -> np.ndarray:
    s = np.asarray(importance, dtype=np.float64)
    owner = np.repeat(np.arange(len(graph), dtype=np.int64), np.diff(graph.start))
    messages = np.exp(-gamma * graph.distances) * s[graph.neighbours]
    return s + np.bincount(owner, weights=messages, minlength=len(graph))


def reverse_greedy(
    scores: np.ndarray, graph: Graph, gamma: float, budget: int, progress: bool = False
) -> np.ndarray:
    """Take the highest score, lower its untaken neighbours' scores, repeat `budget` times.

    A lazy max-heap: every score change pushes a fresh entry; stale ones are skipped."""
    s = np.array(scores, dtype=np.float64)
    version = np.zeros(len(s), dtype=np.int64)
    taken = np.zeros(len(s), dtype=bool)
    heap = [(-v, i, 0) for i, v in enumerate(s.tolist())]
    heapq.heapify(heap)
    order: list[int] = []
    weights = np.exp(-gamma * graph.distances)
    with tqdm(total=budget, desc="d2 reverse passing", disable=not progress) as bar:
        while len(order) < budget:
            _, i, v = heapq.heappop(heap)
            if taken[i] or v != version[i]:
                continue
            taken[i] = True
            order.append(i)
            bar.update(1)
            edges = slice(graph.start[i], graph.start[i + 1])
            for j, w in zip(graph.neighbours[edges].tolist(), weights[edges].tolist(), strict=True):
                if taken[j]:
                    continue
                s[j] -= w * s[i]
                version[j] += 1
                heapq.heappush(heap, (-s[j], j, int(version[j])))
    return np.asarray(order, dtype=np.int64)


def d2_select(
    features: np.ndarray,
    importance: np.ndarray,
    budget: int,
    n_neighbors: int = 5,
    gamma_forward: float = 1.0,
    gamma_reverse: float = 0.4,
    graph: str = "undirected",
    progress: bool = False,
    approximate: HnswSettings | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pool positions in the order taken, and the scores after forward message passing.
    `approximate`: the HNSW settings of an approximate graph (None: exact)."""
    importance = np.nan_to_num(np.asarray(importance, dtype=np.float64), nan=0.0)
    importance = np.maximum(importance, 0.0)
    edges = build_graph(features, n_neighbors, graph, approximate)
    scores = forward_messages(importance, edges, gamma_forward)
    order = reverse_greedy(scores, edges, gamma_reverse, budget, progress)
    return order, scores


class D2Selection(ReferencePassMethod):
    name = "d2_pruning"
    Params = D2Params

    def select(self, ctx: CurationContext, budget: int | None) -> Selection:
        assert budget is not None
        p: D2Params = self.params
        if not 1 <= p.n_neighbors < len(ctx):
            raise ConfigError(
                f"config key 'params.n_neighbors' must lie in 1..{len(ctx) - 1} "
                f"(pool size - 1), got {p.n_neighbors}"
            )
        features, reference = reference_features(p, ctx)
        importance = answer_stat(features, p.importance)
        approximate = knn_settings(p, len(ctx))
        order, scores = d2_select(
            features.load("mean_last"),
            importance,
            budget,
            p.n_neighbors,
            p.gamma_forward,
            p.gamma_reverse,
            p.graph,
            ctx.progress,
            approximate,
        )
        details = {
            "importance": p.importance,
            "graph": p.graph,
            "knn": {"exact": True}
            if approximate is None
            else {"exact": False, "hnsw": dataclasses.asdict(approximate)},
            "importance_scores": score_summary(importance),
            "graph_scores": score_summary(scores),
            "selected_graph_scores": score_summary(scores[order]),
            **provenance(reference, features, "mean_last"),
        }
        return Selection(indices=order, details=details)
