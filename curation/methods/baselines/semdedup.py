"""SemDeDup (Abbas et al., 2023): semantic deduplication inside k-means clusters.

Embedding: the reference LVLM's last-layer hidden state at the last token, L2-normalised
(COINCIDE's "SemDeDup-language" choice), from the shared cached pass. Spherical k-means
(curation/features/kmeans.py, cached; seed = the run's seed). Inside each cluster, points are
visited farthest-from-the-centroid first (lowest cosine to it; ties: pool order), the authors'
"keep hard" order. `drop_rule: earlier` (default, the paper's and the authors' code): a point
is dropped when its cosine to ANY point visited before it in its cluster, kept or not, exceeds
1 - eps (so of a group of duplicates the one farthest from the centroid stays).
`drop_rule: kept`: only a point already KEPT counts; the two differ on chains (a~b, b~c, a!~c:
`earlier` keeps a only, `kept` keeps a and c).

eps is found by bisection on [0, 2] (`search_steps` halvings) so that the kept count meets
the budget: at the eps returned at least `budget` points are kept, at eps + 2^(1-steps) fewer
(unless eps reached 2). An excess left by ties (or by the `kept` rule's rare non-monotone
steps) is trimmed by dropping the kept points most similar to an earlier point of their
cluster (kept points under `kept`). The first point of every cluster is always kept. Output:
the kept pool positions, ascending.

Cost: under `earlier` a point's max cosine to earlier points does not depend on eps, so it is
computed once, cluster by cluster, a block of rows at a time (memory: block x cluster size
float32), and the eps search only compares it with thresholds: O(sum of squared cluster sizes
x D) time, the whole feature matrix never in RAM. `kept` holds every cluster's full similarity
matrix and re-runs the greedy pass per bisection step (a ToyWorld-size option).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from configs.compose import choice
from curation.data.mapped import gather_rows
from curation.features.kmeans import spherical_kmeans
from curation.features.reference_pass import (
    ReferenceParams,
    ReferencePassMethod,
    provenance,
    reference_features,
)
from curation.method import BudgetError, CurationContext, Selection
from curation.methods.baselines.scoring import score_summary

DROP_RULES = ("earlier", "kept")


@dataclass
class SemDedupParams(ReferenceParams):
    k: int = 50  # k-means clusters (ToyWorld: ~80 samples per cluster)
    niter: int = 50
    kmeans_device: str = "auto"
    search_steps: int = 40  # bisection steps of eps over [0, 2]
    drop_rule: str = choice("earlier", DROP_RULES)


@dataclass
class _Cluster:
    members: np.ndarray  # pool positions, farthest from the centroid first
    similarity: np.ndarray  # cosine between members, same order, float32, clipped to <= 1


@dataclass
class DedupResult:
    indices: np.ndarray  # kept pool positions, ascending
    eps: float
    kept_at_eps: int  # before trimming to the budget
    redundancy: np.ndarray  # per pool position: max cosine to an earlier (kept) point (-2: none)


def semdedup(
    features: np.ndarray,
    assignments: np.ndarray,
    centroids: np.ndarray,
    budget: int,
    search_steps: int = 40,
    rule: str = "earlier",
) -> DedupResult:
    """Keep exactly `budget` rows of unit-norm `features` (N, D) by SemDeDup with searched eps."""
    if rule not in DROP_RULES:
        raise ValueError(f"drop rule must be one of {'|'.join(DROP_RULES)}, got {rule!r}")
    n_clusters = len(np.unique(assignments))
    if n_clusters > budget:
        raise BudgetError(
            f"SemDeDup keeps at least one sample per cluster: a budget of {budget} "
            f"is below the {n_clusters} clusters (lower params.k)"
        )
    n = len(features)
    if rule == "earlier":
        closest = redundancy_to_earlier(features, assignments, centroids)

        def at(threshold: float) -> tuple[np.ndarray, np.ndarray]:
            return np.flatnonzero(closest <= threshold), closest.astype(np.float64)

    else:
        clusters = _clusters(features, assignments, centroids)

        def at(threshold: float) -> tuple[np.ndarray, np.ndarray]:
            return dedup(clusters, threshold, n, rule)

    lo, hi = 0.0, 2.0
    kept_lo = at(1.0 - lo)[0]
    if len(kept_lo) > budget:
        for _ in range(search_steps):
            mid = (lo + hi) / 2
            kept = at(1.0 - mid)[0]
            if len(kept) >= budget:
                lo, kept_lo = mid, kept
            else:
                hi = mid
    kept, redundancy = at(1.0 - lo)
    chosen = _trim(kept, redundancy, budget)
    return DedupResult(np.sort(chosen), lo, len(kept), redundancy)


def dedup(
    clusters: list[_Cluster], threshold: float, n: int, rule: str = "earlier"
) -> tuple[np.ndarray, np.ndarray]:
    """Kept pool positions (of `n`) at cosine `threshold` (= 1 - eps), and every point's max
    cosine to a point visited before it in its cluster (rule `kept`: to a kept one; -2 for
    none)."""
    kept: list[np.ndarray] = []
    redundancy = np.full(n, -2.0)
    for cluster in clusters:
        if rule == "earlier":
            closest = _max_to_earlier(cluster.similarity)
            keep = closest <= threshold
        else:
            closest, keep = _greedy_over_kept(cluster.similarity, threshold)
        kept.append(cluster.members[keep])
        redundancy[cluster.members] = closest
    return np.concatenate(kept) if kept else np.zeros(0, np.int64), redundancy


def _max_to_earlier(similarity: np.ndarray) -> np.ndarray:
    """Per member j, the max cosine to members 0..j-1 (-2 for the first)."""
    earlier = np.tril(np.ones(similarity.shape, dtype=bool), k=-1)  # [j, i]: i before j
    return np.where(earlier, similarity, np.float32(-2.0)).max(axis=1)


def redundancy_to_earlier(
    features: np.ndarray, assignments: np.ndarray, centroids: np.ndarray, block_rows: int = 2048
) -> np.ndarray:
    """Per pool position, the max cosine (float32, clipped to <= 1) to the members of its
    cluster visited before it (-2 for a cluster's first), what `dedup` computes under
    `earlier`, a cluster and a block of its rows at a time."""
    out = np.full(len(features), -2.0, dtype=np.float32)
    order = np.argsort(assignments, kind="stable")
    bounds = np.flatnonzero(np.diff(assignments[order])) + 1
    for members in np.split(order, bounds):
        if not len(members):
            continue
        c = int(assignments[members[0]])
        x = np.asarray(gather_rows(features, members), dtype=np.float32)
        x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        visit = np.argsort(x @ np.asarray(centroids[c], dtype=np.float32), kind="stable")
        x = x[visit]
        closest = np.full(len(x), -2.0, dtype=np.float32)
        for lo in range(1, len(x), block_rows):
            hi = min(len(x), lo + block_rows)
            sims = np.minimum(x[lo:hi] @ x[:hi].T, np.float32(1.0))
            later = np.arange(hi)[None, :] >= np.arange(lo, hi)[:, None]  # not visited before
            sims[later] = -2.0
            closest[lo:hi] = sims.max(axis=1)
        out[members[visit]] = closest
    return out


def _greedy_over_kept(similarity: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    size = len(similarity)
    closest = np.full(size, -2.0, dtype=np.float32)
    keep = np.zeros(size, dtype=bool)
    for j in range(size):
        if closest[j] > threshold:
            continue
        keep[j] = True
        closest[j + 1 :] = np.maximum(closest[j + 1 :], similarity[j, j + 1 :])
    return closest, keep


def _clusters(
    features: np.ndarray, assignments: np.ndarray, centroids: np.ndarray
) -> list[_Cluster]:
    clusters = []
    for c in np.unique(assignments):
        members = np.flatnonzero(assignments == c)
        x = np.asarray(gather_rows(features, members), dtype=np.float32)
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
            vectors,
            clustering.assignments,
            clustering.centroids,
            budget,
            p.search_steps,
            p.drop_rule,
        )
        details: dict[str, Any] = {
            "drop_rule": p.drop_rule,
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
