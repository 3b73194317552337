"""COINCIDE's cluster scores and budget allocation (curation/methods/coincide/README.md).

Transferability S_i comes from the centroids' language halves; the density D_i of each cluster
is computed next to its kernel (curation/methods/coincide/mmd.py). `allocate` turns S / D into
how many samples each cluster gets, visiting clusters in descending softmax share exactly as the
reference implementation does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MASK_THRESHOLD = 0.9  # centroid pairs more similar than this are left out of S (near-duplicates)


@dataclass(frozen=True)
class FeatureLayout:
    """How a COINCIDE vector is laid out: per hooked layer, [visual (hidden), language (hidden)]."""

    n_layers: int
    hidden: int

    @property
    def dim(self) -> int:
        return 2 * self.n_layers * self.hidden

    def language(self, vectors: np.ndarray) -> np.ndarray:
        """The language halves of `vectors` (rows), concatenated over layers: (rows, L * hidden)."""
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(
                f"vectors of shape {vectors.shape} do not match the layout "
                f"{self.n_layers} layers x 2 x {self.hidden} = {self.dim} columns"
            )
        blocks = vectors.reshape(len(vectors), self.n_layers, 2, self.hidden)
        return blocks[:, :, 1, :].reshape(len(vectors), self.n_layers * self.hidden)


def transferability(
    centroids: np.ndarray,
    layout: FeatureLayout,
    threshold: float = MASK_THRESHOLD,
    block_rows: int = 1024,
) -> np.ndarray:
    """S_i = mean of the cosine similarities C_ij of centroid i's language half to the others,
    over the j with C_ij <= threshold (which also drops j = i). float64, computed in row blocks.

    A row with every entry masked (all other centroids are near-duplicates of it, or K = 1) has
    no mean; its S is 0 (the reference divides by zero there).
    """
    lang = layout.language(np.asarray(centroids)).astype(np.float64)
    norms = np.linalg.norm(lang, axis=1)
    lang /= np.where(norms > 0, norms, 1.0)[:, None]  # a zero row stays zero: cosine 0
    out = np.zeros(len(lang), dtype=np.float64)
    for start in range(0, len(lang), block_rows):
        sim = lang[start : start + block_rows] @ lang.T
        keep = sim <= threshold
        counts = keep.sum(axis=1)
        sums = np.where(keep, sim, 0.0).sum(axis=1)
        out[start : start + block_rows] = np.divide(
            sums, counts, out=np.zeros_like(sums), where=counts > 0
        )
    return out


def softmax(values: np.ndarray) -> np.ndarray:
    shifted = np.exp(values - values.max())
    return shifted / shifted.sum()


@dataclass(frozen=True)
class ClusterPlan:
    """One cluster's share of the budget, in visiting order."""

    cluster: int  # cluster id
    size: int
    transferability: float
    density: float
    share: float  # P of this cluster among those not yet visited, when it was visited
    requested: int  # round(remaining * share)
    taken: int  # size when requested > size (the whole cluster), else requested (greedy MMD)

    @property
    def whole(self) -> bool:
        return self.requested > self.size


def allocate(
    clusters: Sequence[int] | np.ndarray,
    sizes: Sequence[int] | np.ndarray,
    transfer: np.ndarray,
    density: np.ndarray,
    target: int,
    tau: float,
) -> list[ClusterPlan]:
    """The reference's allocation: score = S / D, P = softmax(score / tau); visit clusters in
    descending P (ties: ascending position in `clusters`); each takes round(remaining * P_t)
    (round half to even), or all of itself when that is more than it has; the budget it
    leaves goes on to the clusters after it, whose P is recomputed among themselves.

    `transfer[k]`, `density[k]` and `sizes[k]` describe `clusters[k]`. The shares only depend on
    these numbers, so the whole plan is known before any greedy MMD runs.
    """
    clusters = np.asarray(clusters)
    sizes = np.asarray(sizes, dtype=np.int64)
    transfer = np.asarray(transfer, dtype=np.float64)
    density = np.asarray(density, dtype=np.float64)
    if not (len(clusters) == len(sizes) == len(transfer) == len(density)):
        raise ValueError("clusters, sizes, transfer and density must have the same length")
    if target < 0:
        raise ValueError(f"target must be >= 0, got {target}")
    if tau <= 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    if np.any(density <= 0):
        raise ValueError("cluster densities must be > 0")
    if len(clusters) == 0:
        return []
    score = transfer / density
    order = np.argsort(-softmax(score / tau), kind="stable")
    score = score[order]
    remaining = int(target)
    plans: list[ClusterPlan] = []
    for t, k in enumerate(order.tolist()):
        share = float(softmax(score[t:] / tau)[0])
        requested = round(remaining * share)
        taken = int(sizes[k]) if requested > sizes[k] else requested
        plans.append(
            ClusterPlan(
                int(clusters[k]),
                int(sizes[k]),
                float(transfer[k]),
                float(density[k]),
                share,
                requested,
                taken,
            )
        )
        remaining -= taken
    return plans
