"""COINCIDE's selection stage written the way the reference implementation computes it.

Every cluster's whole kernel is built and kept, the centroid similarity matrix is built whole,
and greedy MMD evaluates MMD^2(X, S + c) from scratch for every candidate c by gathering the
kernel entries of every candidate set. This is the test oracle for
`curation.methods.coincide.select.select_coincide` and the baseline of bench/coincide_select.py; use
it on small inputs only (it is O(n^2 m^2) per cluster in time and O(n m^2) in memory).

It deviates from the reference only where README.md here says so: cluster ids need not be
contiguous, an all-masked transferability row gives S = 0, clusters with equal shares are
visited in ascending id order, and MMD ties (within TIE_ATOL) go to the smallest index.
"""

from __future__ import annotations

import numpy as np

from curation.methods.coincide.mmd import TIE_ATOL


def naive_greedy_mmd(kernel: np.ndarray, budget: int) -> np.ndarray:
    n = len(kernel)
    everything = np.arange(n)
    selected = np.array([], dtype=np.int64)
    k_xx = kernel.mean()
    for _ in range(budget):
        candidates = np.setdiff1d(everything, selected)
        trial = np.concatenate(
            [np.tile(selected, (len(candidates), 1)), candidates[:, None]], axis=1
        )
        k_xy = kernel[:, trial].mean(axis=(0, 2))
        k_yy = kernel[trial[:, :, None], trial[:, None, :]].mean(axis=(1, 2))
        mmd = k_xx + k_yy - 2.0 * k_xy
        best = candidates[np.flatnonzero(mmd <= mmd.min() + TIE_ATOL)[0]]
        selected = np.append(selected, best)
    return selected


def naive_kernel(rows: np.ndarray, sigma: float) -> np.ndarray:
    x = np.asarray(rows, dtype=np.float64)
    sq = (x**2).sum(axis=1)
    dist = sq[:, None] + sq[None, :] - 2.0 * x @ x.T
    return np.exp(-dist / (2.0 * sigma**2))


def naive_transferability(
    centroids: np.ndarray, n_layers: int, hidden: int, threshold: float = 0.9
) -> np.ndarray:
    lang = np.asarray(centroids, dtype=np.float64).reshape(-1, n_layers, 2 * hidden)[:, :, hidden:]
    lang = lang.reshape(len(lang), n_layers * hidden)
    norms = np.linalg.norm(lang, axis=1, keepdims=True)
    lang = lang / np.where(norms > 0, norms, 1.0)
    sim = lang @ lang.T
    mask = sim > threshold
    sim[mask] = 0.0
    counts = (~mask).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sim.sum(axis=1) / counts, 0.0)


def naive_select(
    features: np.ndarray,
    assignments: np.ndarray,
    centroids: np.ndarray,
    n_layers: int,
    hidden: int,
    target: int,
    tau: float = 0.1,
    sigma: float = 1.0,
) -> np.ndarray:
    clusters = np.unique(assignments)
    kernels, density = [], np.zeros(len(clusters))
    for k, cluster in enumerate(clusters):
        kernel = naive_kernel(features[np.flatnonzero(assignments == cluster)], sigma)
        kernels.append(kernel)
        density[k] = kernel.mean()
    score = naive_transferability(centroids, n_layers, hidden)[clusters] / density
    ratio = np.exp(score / tau) / np.exp(score / tau).sum()
    order = np.argsort(-ratio, kind="stable")
    ratio, score = ratio[order], score[order]
    remaining, chosen = target, []
    for t, k in enumerate(order):
        members = np.flatnonzero(assignments == clusters[k])
        want = round(remaining * ratio[t])
        if want > len(members):
            picked = members
        else:
            picked = members[naive_greedy_mmd(kernels[k], want)]
        chosen.append(picked)
        remaining -= len(picked)
        tail = np.exp(score[t + 1 :] / tau)
        ratio[t + 1 :] = tail / tail.sum()
    return np.concatenate(chosen).astype(np.int64) if chosen else np.zeros(0, dtype=np.int64)
