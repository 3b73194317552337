"""COINCIDE's selection stage as one pure function: features + clustering -> ordered indices.

    select_coincide(features, assignments, centroids, layout, fraction=0.2, tau=0.1, sigma=1.0)

Features may be a read-only memory map larger than RAM: they are read cluster by cluster, and
memory stays bounded by `MemoryBudget` (a cluster whose kernel does not fit is handled row by
row). Two passes: densities of every cluster (kernels kept for the MMD pass while they fit
`cache_bytes`), then the allocation, then greedy MMD inside the clusters that need it.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch
from tqdm import tqdm

from curation.coincide_mmd import ClusterKernel, DenseKernel, RowKernel, density, greedy_mmd
from curation.coincide_scores import (
    MASK_THRESHOLD,
    ClusterPlan,
    FeatureLayout,
    allocate,
    transferability,
)

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class MemoryBudget:
    kernel_bytes: int = 1 << 30  # a cluster's n x n kernel (and its rows) held whole up to this
    cache_bytes: int = 2 << 30  # kernels kept from the density pass for the MMD pass
    block_bytes: int = 256 << 20  # float64 working blocks of a cluster handled row by row


@dataclass
class CoincideResult:
    indices: np.ndarray  # int64 pool positions, in selection order
    target: int
    plans: list[ClusterPlan] = field(default_factory=list)  # in visiting order
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase

    def details(self) -> dict[str, Any]:
        """Compact provenance: totals and one column per field, clusters in visiting order."""
        def column(name: str, digits: int | None = None) -> list:
            values = [getattr(p, name) for p in self.plans]
            return [float(f"{v:.{digits}g}") for v in values] if digits else values

        return {
            "target": self.target,
            "selected": int(len(self.indices)),
            "clusters": len(self.plans),
            "clusters_whole": sum(p.whole for p in self.plans),
            "clusters_empty": sum(p.taken == 0 for p in self.plans),
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
            "per_cluster": {
                "cluster": column("cluster"),
                "size": column("size"),
                "requested": column("requested"),
                "taken": column("taken"),
                "share": column("share", 6),
                "transferability": column("transferability", 6),
                "density": column("density", 6),
            },
        }


def select_coincide(
    features: np.ndarray,
    assignments: np.ndarray,
    centroids: np.ndarray,
    layout: FeatureLayout,
    *,
    fraction: float | None = None,
    target: int | None = None,
    tau: float = 0.1,
    sigma: float = 1.0,
    threshold: float = MASK_THRESHOLD,
    memory: MemoryBudget | None = None,
    workers: int = 2,
    progress: bool = False,
) -> CoincideResult:
    """Pool positions chosen by COINCIDE, in selection order (clusters in visiting order, each
    cluster's points in greedy order, or ascending when a cluster is taken whole).

    features: (N, D) rows, any float dtype (float16 on disk), D = layout.dim.
    assignments: (N,) cluster id of each row; ids index `centroids` and need not be contiguous.
    centroids: (C, D); row c is cluster c's centroid. Centroids of empty clusters still count in
    transferability, as in the reference.
    Budget: `target` samples, or int(fraction * N).
    workers: clusters handled at once, in threads (kernel products run single-threaded, so the
    bits of the result do not depend on it).
    """
    memory = memory or MemoryBudget()
    n_rows = _check_inputs(features, assignments, centroids, layout)
    if (fraction is None) == (target is None):
        raise ValueError("give exactly one of fraction and target")
    if target is None:
        if not 0 <= fraction <= 1:
            raise ValueError(f"fraction must lie in [0, 1], got {fraction}")
        target = int(fraction * n_rows)
    if not 0 <= target <= n_rows:
        raise ValueError(f"target {target} is outside 0..{n_rows}")
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")

    clock = _Clock()
    members = _members(np.asarray(assignments))
    clusters = np.fromiter(members, dtype=np.int64, count=len(members))
    sizes = np.array([len(m) for m in members.values()], dtype=np.int64)
    transfer = transferability(np.asarray(centroids), layout, threshold)[clusters]
    clock.lap("transferability")

    def measure(cluster: int) -> tuple[float, ClusterKernel | None]:
        rows = members[cluster]
        if len(rows) == 1:
            return 1.0, None
        kernel = _kernel(features, rows, sigma, memory)
        return density(kernel), kernel

    densities = np.empty(len(clusters), dtype=np.float64)
    cache: dict[int, ClusterKernel] = {}
    cached_bytes = 0
    # kernel products single-threaded whatever `workers` is: the same bits either way
    with _torch_threads(1):
        measured = zip(clusters.tolist(), _ordered_map(measure, clusters.tolist(), workers),
                       strict=True)
        for k, (cluster, (value, kernel)) in enumerate(
                _progress(measured, progress, "coincide density", len(clusters))):
            densities[k] = value
            size = 8 * int(sizes[k]) ** 2
            if isinstance(kernel, DenseKernel) and cached_bytes + size <= memory.cache_bytes:
                cache[cluster] = kernel
                cached_bytes += size
        clock.lap("density")
        plans = allocate(clusters, sizes, transfer, densities, target, tau)
        clock.lap("allocation")

        def pick(plan: ClusterPlan) -> np.ndarray:
            rows = members[plan.cluster]
            kernel = cache.pop(plan.cluster, None)
            if plan.whole:
                return rows
            if plan.taken == 0:
                return rows[:0]
            if kernel is None:
                kernel = _kernel(features, rows, sigma, memory)
            return rows[greedy_mmd(kernel, plan.taken)]

        chosen = list(_progress(_ordered_map(pick, plans, workers), progress,
                                "coincide greedy MMD", len(plans)))
    indices = np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)
    clock.lap("greedy_mmd")
    return CoincideResult(indices.astype(np.int64, copy=False), target, plans, clock.laps)


def _check_inputs(features: np.ndarray, assignments: np.ndarray, centroids: np.ndarray,
                  layout: FeatureLayout) -> int:
    if features.ndim != 2 or features.shape[1] != layout.dim:
        raise ValueError(f"features of shape {features.shape} do not match the layout ("
                         f"{layout.n_layers} layers, hidden {layout.hidden}: {layout.dim} columns)")
    if assignments.shape != (len(features),):
        raise ValueError(f"assignments of shape {assignments.shape} for {len(features)} "
                         "feature rows")
    if not np.issubdtype(assignments.dtype, np.integer):
        raise ValueError(f"assignments must be integer cluster ids, got {assignments.dtype}")
    if centroids.ndim != 2 or centroids.shape[1] != layout.dim:
        raise ValueError(f"centroids of shape {centroids.shape} do not have {layout.dim} columns")
    if len(assignments) and (assignments.min() < 0 or assignments.max() >= len(centroids)):
        raise ValueError(f"cluster ids must lie in 0..{len(centroids) - 1} (rows of centroids)")
    return len(features)


def _members(assignments: np.ndarray) -> dict[int, np.ndarray]:
    """Cluster id -> its pool positions (ascending), for the ids present, in ascending id order."""
    order = np.argsort(assignments, kind="stable")
    ids, starts, counts = np.unique(assignments[order], return_index=True, return_counts=True)
    return {int(c): order[s:s + n] for c, s, n in zip(ids.tolist(), starts, counts, strict=True)}


def _kernel(features: np.ndarray, rows: np.ndarray, sigma: float,
            memory: MemoryBudget) -> ClusterKernel:
    n, dim = len(rows), features.shape[1]
    if 8 * n * n <= memory.kernel_bytes and n * dim * features.itemsize <= memory.kernel_bytes:
        return DenseKernel(features[rows], sigma, chunk_elems=max(1, memory.block_bytes // 8))

    def read(local: np.ndarray) -> np.ndarray:
        return np.asarray(features[rows[local]], dtype=np.float64)

    block_rows = memory.block_bytes // (8 * (n + 2 * dim))
    return RowKernel(read, n, sigma, block_rows)


class _Clock:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = now - self._last
        self._last = now


def _progress(items: Iterable, enabled: bool, desc: str, total: int) -> Iterable:
    return tqdm(items, desc=desc, unit="cluster", total=total, disable=not enabled,
                mininterval=1.0)


def _ordered_map(fn: Callable[[T], R], items: Sequence[T], workers: int) -> Iterator[R]:
    """fn over items in `workers` threads, results in item order, at most workers + 1 pending
    (a pending result may hold a whole kernel)."""
    if workers <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(workers) as pool:
        pending: deque[Future[R]] = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
