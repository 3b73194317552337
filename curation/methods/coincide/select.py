"""COINCIDE's selection stage as one pure function: features + clustering -> ordered indices.

    select_coincide(features, assignments, centroids, layout, fraction=0.2, tau=0.1, sigma=1.0)

Features may be a read-only memory map larger than RAM: rows are read in waves of clusters,
in file order (curation/methods/coincide/rows.py), and memory stays bounded by `MemoryBudget` (a
cluster whose kernel does not fit is handled row by row). Two passes: densities of every
cluster (kernels kept for the MMD pass while they fit `cache_bytes`), then the allocation,
then greedy MMD inside the clusters that need it (the whole plan is known before any MMD).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from tqdm import tqdm

from curation.data.threads import torch_threads
from curation.methods.coincide.mmd import ClusterKernel, DenseKernel, RowKernel, density, greedy_mmd
from curation.methods.coincide.rows import gather, plan_waves, read_waves
from curation.methods.coincide.scores import (
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
    wave_bytes: int = 4 << 30  # feature rows in memory (two waves of half this; see coincide_rows)


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
    clusters = list(members)
    sizes = {c: len(rows) for c, rows in members.items()}
    transfer = transferability(np.asarray(centroids), layout, threshold)[np.array(clusters)]
    clock.lap("transferability")

    reader = _ClusterReader(features, members, sigma, memory, workers)
    densities = {c: 1.0 for c in clusters if sizes[c] == 1}
    cache: dict[int, ClusterKernel] = {}
    cached_bytes = 0
    bar = _progress(progress, "coincide density", len(clusters) - len(densities))
    # kernel products single-threaded whatever `workers` is: the same bits either way
    with torch_threads(1):
        for cluster, kernel in reader.kernels(
            [c for c in clusters if sizes[c] > 1], lambda c, k: k
        ):
            densities[cluster] = density(kernel)
            size = 8 * sizes[cluster] ** 2
            if isinstance(kernel, DenseKernel) and cached_bytes + size <= memory.cache_bytes:
                cache[cluster] = kernel
                cached_bytes += size
            bar.update()
        bar.close()
        clock.lap("density")
        plans = allocate(
            clusters,
            [sizes[c] for c in clusters],
            transfer,
            np.array([densities[c] for c in clusters]),
            target,
            tau,
        )
        clock.lap("allocation")

        taken = {p.cluster: p.taken for p in plans if not p.whole and p.taken > 0}
        picks: dict[int, np.ndarray] = {}
        bar = _progress(progress, "coincide greedy MMD", len(taken))
        with bar:
            cached = [c for c in taken if c in cache]
            for c, local in zip(
                cached,
                _ordered_map(lambda c: greedy_mmd(cache.pop(c), taken[c]), cached, workers),
                strict=True,
            ):
                picks[c] = members[c][local]
                bar.update()
            rest = sorted(c for c in taken if c not in picks)
            for c, local in reader.kernels(rest, lambda c, k: greedy_mmd(k, taken[c])):
                picks[c] = members[c][local]
                bar.update()
    chosen = [
        members[p.cluster] if p.whole else picks.get(p.cluster, members[p.cluster][:0])
        for p in plans
    ]
    indices = np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)
    clock.lap("greedy_mmd")
    return CoincideResult(indices.astype(np.int64, copy=False), target, plans, clock.laps)


class _ClusterReader:
    """Kernels of clusters, their rows read from `features` in waves (file order)."""

    def __init__(
        self,
        features: np.ndarray,
        members: dict[int, np.ndarray],
        sigma: float,
        memory: MemoryBudget,
        workers: int,
    ) -> None:
        self.features, self.members, self.sigma = features, members, sigma
        self.memory, self.workers = memory, workers
        self.row_bytes = features.shape[1] * features.itemsize

    def dense(self, cluster: int) -> bool:
        n = len(self.members[cluster])
        limit = self.memory.kernel_bytes
        return 8 * n * n <= limit and n * self.row_bytes <= limit

    def kernels(
        self, clusters: list[int], fn: Callable[[int, ClusterKernel], R]
    ) -> Iterator[tuple[int, R]]:
        """(cluster, fn(cluster, its kernel)) for every cluster: the ones whose kernel fits
        first, wave by wave, then the big ones, row by row."""
        sizes = {c: len(self.members[c]) for c in clusters}
        small = [c for c in clusters if self.dense(c)]
        # two waves in memory at once (one being read in the background)
        waves = plan_waves(small, sizes, self.row_bytes, self.memory.wave_bytes // 2)
        chunk = max(1, self.memory.block_bytes // 8)
        for data in read_waves(self.features, self.members, waves):
            wave = list(data)
            results = _ordered_map(
                lambda c, data=data: fn(c, DenseKernel(data[c], self.sigma, chunk)),
                wave,
                self.workers,
            )
            yield from zip(wave, results, strict=True)
        for c in clusters:
            if not self.dense(c):
                yield c, fn(c, self._row_kernel(c))

    def _row_kernel(self, cluster: int) -> RowKernel:
        rows, n = self.members[cluster], len(self.members[cluster])

        def read(local: np.ndarray) -> np.ndarray:
            return np.asarray(gather(self.features, rows[local]), dtype=np.float64)

        block_rows = self.memory.block_bytes // (8 * (n + 2 * self.features.shape[1]))
        return RowKernel(read, n, self.sigma, block_rows)


def _check_inputs(
    features: np.ndarray, assignments: np.ndarray, centroids: np.ndarray, layout: FeatureLayout
) -> int:
    if features.ndim != 2 or features.shape[1] != layout.dim:
        raise ValueError(
            f"features of shape {features.shape} do not match the layout ("
            f"{layout.n_layers} layers, hidden {layout.hidden}: {layout.dim} columns)"
        )
    if assignments.shape != (len(features),):
        raise ValueError(
            f"assignments of shape {assignments.shape} for {len(features)} feature rows"
        )
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
    return {int(c): order[s : s + n] for c, s, n in zip(ids.tolist(), starts, counts, strict=True)}


class _Clock:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = now - self._last
        self._last = now


def _progress(enabled: bool, desc: str, total: int) -> tqdm:
    return tqdm(desc=desc, unit="cluster", total=total, disable=not enabled, mininterval=1.0)


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
