"""Every row's k nearest other rows of a (possibly memory-mapped) pool: exact, or approximate
through a graph index (HNSW), and the recall of one neighbour graph against another.

    exact = nearest_neighbours(x, k=5, metric="l2")                      # faiss flat
    found = nearest_neighbours(x, k=5, metric="l2", hnsw=HnswSettings())  # approximate
    knn_recall(found.ids, exact.ids)                                     # edges kept

metric "l2": Euclidean distance, nearest first; "ip": inner product (cosine on unit rows),
highest first. Ties: lower position first. Self is never listed. Values are float64.

Approximate: the rows, projected on their top `search_dim` principal components (from a seeded
sample of 20,000 rows) when wider, go into a faiss HNSW graph (`m` links a node,
`ef_construction`; built on one thread, so the same rows give the same graph), which is
searched for each row's k + 36 best candidates (`ef_search`). Those are cut to the best k + 4
by float32 values on the full rows, then ordered by exact float64 values: values are exact and
only the neighbour SET is approximate. With ef_search at least the number of rows and no
projection the search visits every row and finds the exact graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curation.data.mapped import gather_rows, read_rows

METRICS = ("l2", "ip")
EXTRA = 36  # candidates kept per row by the list search beyond the k asked for
SLACK = 4  # of those, the best k + SLACK by float32 values get exact float64 values


@dataclass(frozen=True)
class Neighbours:
    ids: np.ndarray  # (N, k) int64, best first
    values: np.ndarray  # (N, k) float64: distances (l2, ascending) or inner products (ip)


@dataclass(frozen=True)
class HnswSettings:
    m: int = 32  # graph links per node
    ef_construction: int = 200
    ef_search: int = 384  # raised to the candidates asked for when below
    search_dim: int | None = 256  # principal components searched in (None: the rows as they are)


def nearest_neighbours(
    x: np.ndarray, k: int, metric: str = "l2", hnsw: HnswSettings | None = None
) -> Neighbours:
    """Exact when `hnsw` is None, else approximate through an HNSW graph (see module)."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {'|'.join(METRICS)}, got {metric!r}")
    n = len(x)
    if not 1 <= k < n:
        raise ValueError(f"nearest neighbours need 1 <= k < number of rows ({n}), got {k}")
    if hnsw is None:
        candidates = _exact_candidates(x, k, metric)
    else:
        candidates = _hnsw_candidates(x, min(k + EXTRA, n), metric, hnsw)
    return _rerank(x, candidates, k, metric)


def knn_recall(found: np.ndarray, exact: np.ndarray) -> float:
    """Fraction of the exact graph's edges (i, j) that `found` also lists for i (same shape)."""
    if found.shape != exact.shape:
        raise ValueError(f"neighbour arrays differ in shape: {found.shape} vs {exact.shape}")
    hits = sum(
        np.intersect1d(a, b, assume_unique=True).size for a, b in zip(found, exact, strict=True)
    )
    return hits / exact.size


def _exact_candidates(x: np.ndarray, k: int, metric: str, block_rows: int = 4096) -> np.ndarray:
    """k + 1 best rows per row by faiss' exhaustive search (self among them, usually)."""
    import faiss

    rows = np.ascontiguousarray(x, dtype=np.float32)
    index = faiss.IndexFlatL2(rows.shape[1]) if metric == "l2" else faiss.IndexFlatIP(rows.shape[1])
    index.add(rows)
    out = np.empty((len(rows), k + 1), dtype=np.int64)
    for start in range(0, len(rows), block_rows):
        out[start : start + block_rows] = index.search(rows[start : start + block_rows], k + 1)[1]
    return out


def _search_space(x: np.ndarray, dim: int | None, seed: int = 0) -> np.ndarray:
    """The rows as float32 in RAM, projected on their top `dim` principal components (from a
    seeded sample of <= 20,000 rows) when wider than `dim`."""
    n, width = x.shape
    if dim is None or width <= dim:
        return np.ascontiguousarray(x, dtype=np.float32)
    sample = np.sort(np.random.default_rng(seed).choice(n, size=min(n, 20_000), replace=False))
    rows = np.asarray(gather_rows(x, sample), dtype=np.float32)
    mean = rows.mean(0)
    rows -= mean
    _, vectors = np.linalg.eigh(rows.T @ rows)
    basis = np.ascontiguousarray(vectors[:, ::-1][:, :dim], dtype=np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 16384):
        block = np.asarray(read_rows(x, start, start + 16384), dtype=np.float32) - mean
        out[start : start + len(block)] = block @ basis
    return out


def _hnsw_candidates(x: np.ndarray, width: int, metric: str, hnsw: HnswSettings) -> np.ndarray:
    """`width` candidates per row from an HNSW graph over the search space (-1: none found)."""
    import faiss

    space = _search_space(x, hnsw.search_dim)
    kind = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
    index = faiss.IndexHNSWFlat(space.shape[1], hnsw.m, kind)
    index.hnsw.efConstruction = hnsw.ef_construction
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # parallel insertion makes the graph depend on scheduling
    try:
        index.add(space)
    finally:
        faiss.omp_set_num_threads(threads)
    index.hnsw.efSearch = max(hnsw.ef_search, width)
    out = np.empty((len(space), width), dtype=np.int64)
    for start in range(0, len(space), 65536):
        out[start : start + 65536] = index.search(space[start : start + 65536], width)[1]
    return out


def _rerank(x: np.ndarray, candidates: np.ndarray, k: int, metric: str) -> Neighbours:
    """Each row's k best candidates other than itself by exact float64 values (ties: lower
    position); a row with fewer than k candidates is completed with the rows it lacks, in
    position order (only on tiny or degenerate inputs). Wide candidate lists are first cut to
    the best k + SLACK by float32 values (what the exact values then order)."""
    n, width = candidates.shape
    ids = np.empty((n, k), dtype=np.int64)
    values = np.empty((n, k), dtype=np.float64)
    sq_norms = _squared_norms(x) if metric == "l2" and width > k + SLACK else None
    block = max(1, (1 << 24) // (width * x.shape[1]))  # <= 64 MiB of float32 rows at a time
    for start in range(0, n, block):
        cand = candidates[start : start + block].copy()
        rows = np.arange(start, start + len(cand))
        invalid = (cand < 0) | (cand == rows[:, None])
        for r in np.flatnonzero((~invalid).sum(1) < k):  # complete: lowest positions not there
            have = cand[r][~invalid[r]]
            extra = np.setdiff1d(np.arange(n), np.append(have, rows[r]))[: k - len(have)]
            slots = np.flatnonzero(invalid[r])[: len(extra)]
            cand[r, slots], invalid[r, slots] = extra, False
        own = np.asarray(read_rows(x, start, start + len(cand)), dtype=np.float32)
        if width > k + SLACK:
            safe = np.where(invalid, 0, cand)
            others = np.asarray(x[safe.reshape(-1)], dtype=np.float32).reshape(*safe.shape, -1)
            dots = np.einsum("bwd,bd->bw", others, own)
            rough = sq_norms[safe] - 2 * dots if sq_norms is not None else -dots
            rough[invalid] = np.inf
            keep = np.argpartition(rough, k + SLACK - 1, axis=1)[:, : k + SLACK]
            cand = np.take_along_axis(cand, keep, 1)
            invalid = np.take_along_axis(invalid, keep, 1)
        safe = np.where(invalid, 0, cand)
        others = np.asarray(x[safe.reshape(-1)], dtype=np.float64).reshape(*safe.shape, -1)
        own64 = own.astype(np.float64)[:, None, :]
        if metric == "l2":
            value = np.sqrt(((others - own64) ** 2).sum(-1))
            key = np.where(invalid, np.inf, value)
        else:
            value = (others * own64).sum(-1)
            key = np.where(invalid, np.inf, -value)
        best = _best(key, cand, k)
        ids[rows] = np.take_along_axis(cand, best, 1)
        values[rows] = np.take_along_axis(value, best, 1)
    return Neighbours(ids, values)


def _squared_norms(x: np.ndarray, block_rows: int = 16384) -> np.ndarray:
    out = np.empty(len(x), dtype=np.float32)
    for start in range(0, len(x), block_rows):
        block = np.asarray(read_rows(x, start, start + block_rows), dtype=np.float32)
        out[start : start + len(block)] = (block * block).sum(1)
    return out


def _best(key: np.ndarray, cand: np.ndarray, k: int) -> np.ndarray:
    """Per row, the column positions of the k smallest keys (ties: lower candidate id)."""
    by_id = np.argsort(cand, axis=1, kind="stable")
    stable = np.argsort(np.take_along_axis(key, by_id, 1), axis=1, kind="stable")[:, :k]
    return np.take_along_axis(by_id, stable, 1)
