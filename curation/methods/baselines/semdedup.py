"""SemDeDup (Abbas et al., 2023): semantic deduplication inside k-means clusters.

Embedding: the reference LVLM's last-layer hidden state at the last token, L2-normalised
(COINCIDE's "SemDeDup-language" choice), from the shared cached pass. Spherical k-means
(curation/features/kmeans.py, cached; seed = the run's seed). Inside each cluster, points are
visited farthest-from-the-centroid first (lowest cosine to it; ties: pool order); a point is dropped
when its cosine to a point already KEPT in its cluster exceeds 1 - eps (so of a group of
duplicates the one farthest from the centroid stays). The reference code instead drops a point
similar to ANY earlier point, kept or not; the two differ only on chains (a~b, b~c, a!~c:
we keep a and c).

eps is found by bisection on [0, 2] (`search_steps` halvings) so that the kept count meets
the budget: at the eps returned at least `budget` points are kept, at eps + 2^(1-steps) fewer
(unless eps reached 2). An excess left by ties (or by the greedy rule's rare non-monotone
steps) is trimmed by dropping the kept points most similar to an earlier kept point of their
cluster. Output: the kept pool positions, ascending.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from curation.features.kmeans import spherical_kmeans
from curation.features.reference_pass import (
    ReferenceParams,
    ReferencePassMethod,
    provenance,
    reference_features,
)
from curation.method import BudgetError, CurationContext, Selection
from curation.methods.baselines.scoring import score_summary


@dataclass
class SemDedupParams(ReferenceParams):
    k: int = 50  # k-means clusters (ToyWorld: ~80 samples per cluster)
    niter: int = 50
    kmeans_device: str = "auto"
    search_steps: int = 40  # bisection steps of eps over [0, 2]


@dataclass
class _Cluster:
    members: np.ndarray  # pool positions, farthest from the centroid first
    similarity: np.ndarray  # cosine between members, same order, float32, clipped to <= 1


@dataclass
class DedupResult:
    indices: np.ndarray  # kept pool positions, ascending
    eps: float
    kept_at_eps: int  # before trimming to the budget
    redundancy: np.ndarray  # per pool position: max cosine to an earlier kept point (-2: none)


def semdedup(
    features: np.ndarray,
    assignments: np.ndarray,
    centroids: np.ndarray,
    budget: int,
    search_steps: int = 40,
) -> DedupResult:
    """Keep exactly `budget` rows of unit-norm `features` (N, D) by SemDeDup with searched eps."""
    clusters = _clusters(features, assignments, centroids)
    if len(clusters) > budget:
        raise BudgetError(
            f"SemDeDup keeps at least one sample per cluster: a budget of {budget} "
            f"is below the {len(clusters)} clusters (lower params.k)"
        )
    lo, hi = 0.0, 2.0
    n = len(features)
    kept_lo = dedup(clusters, 1.0 - lo, n)[0]
    if len(kept_lo) > budget:
        for _ in range(search_steps):
            mid = (lo + hi) / 2
            kept = dedup(clusters, 1.0 - mid, n)[0]
            if len(kept) >= budget:
                lo, kept_lo = mid, kept
            else:
                hi = mid
    kept, redundancy = dedup(clusters, 1.0 - lo, n)
    chosen = _trim(kept, redundancy, budget)
    return DedupResult(np.sort(chosen), lo, len(kept), redundancy)


def dedup(clusters: list[_Cluster], threshold: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Kept pool positions (of `n`) at cosine `threshold` (= 1 - eps), and every point's max
    cosine to a kept point visited before it in its cluster (-2 for the first kept)."""
    kept: list[np.ndarray] = []
    redundancy = np.full(n, -2.0)
    for cluster in clusters:
        size = len(cluster.members)
        closest = np.full(size, -2.0, dtype=np.float32)
        keep = np.zeros(size, dtype=bool)
        for j in range(size):
            if closest[j] > threshold:
                continue
            keep[j] = True
            closest[j + 1 :] = np.maximum(closest[j + 1 :], cluster.similarity[j, j + 1 :])
        kept.append(cluster.members[keep])
        redundancy[cluster.members] = closest
    return np.concatenate(kept) if kept else np.zeros(0, np.int64), redundancy


def _clusters(
    features: np.ndarray, assignments: np.ndarray, centroids: np.ndarray
) -> list[_Cluster]:
    clusters = []
    for c in np.unique(assignments):
        members = np.flatnonzero(assignments == c)
        x = np.asarray(features[members], dtype=np.float32)
        x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        to_centroid = x @ np.asarray(centroids[c], dtype=np.float32)
        order = np.argsort(to_centroid, kind="stable")
        x = x[order]
        clusters.append(_Cluster(members[order], np.minimum(x @ x.T, 1.0)))
    return clusters


def _trim(kept: np.ndarray, redundancy: np.ndarray, budget: int) -> np.ndarray:
    excess = len(kept) - budget
    if excess <= 0:
        return kept
    ordered = kept[np.lexsort((kept, -redundancy[kept]))]  # most redundant first
    return np.setdiff1d(kept, ordered[:excess])


class SemDedupSelection(ReferencePassMethod):
    name = "semdedup"
    Params = SemDedupParams

    def select(self, ctx: CurationContext, budget: int | None) -> Selection:
        assert budget is not None
        p: SemDedupParams = self.params
        if not 1 <= p.k <= len(ctx):
            raise BudgetError(
                f"params.k={p.k} clusters must lie in 1..{len(ctx)} (the pool's "
                "size): change params.k"
            )
        features, reference = reference_features(p, ctx)
        vectors = features.load("last_token")
        clustering = spherical_kmeans(
            vectors,
            p.k,
            niter=p.niter,
            seed=ctx.seed,
            features_id=features.sha256("last_token"),
            cache_dir=ctx.cache_dir,
            device=p.kmeans_device,
            progress=ctx.progress,
        )
        result = semdedup(
            vectors, clustering.assignments, clustering.centroids, budget, p.search_steps
        )
        details: dict[str, Any] = {
            "eps": float(f"{result.eps:.6g}"),
            "kept_at_eps": result.kept_at_eps,
            "trimmed": result.kept_at_eps - len(result.indices),
            "redundancy": score_summary(
                np.where(result.redundancy > -2, result.redundancy, np.nan)
            ),
            "kmeans": {
                "path": str(clustering.path),
                "key": clustering.key,
                "k": clustering.k,
                "seed": ctx.seed,
            },
            **provenance(reference, features, "last_token"),
        }
        return Selection(indices=result.indices, details=details)
