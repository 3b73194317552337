"""Self-Sup prototypicality (Sorscher et al., "Beyond neural scaling laws", NeurIPS 2022).

Embed every record with the reference LVLM (instead of the paper's SwAV; `feature` picks which
of the cached pass's embeddings, L2-normalised), cluster with spherical k-means (cached; seed =
the run's seed), and score each record by its cosine distance to its nearest centroid,
1 - max_c <x, c>. keep=hard keeps the farthest (least prototypical) records, the paper's rule
when data is plentiful; keep=easy the nearest, its rule when data is scarce. Ties: pool order.
Rows are normalised and scored a block at a time (`UnitRows`), so only k-means' training copy
of the rows is ever in RAM whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from configs.compose import choice
from curation.data.mapped import read_rows, take_rows
from curation.features.kmeans import spherical_kmeans
from curation.features.reference_pass import (
    EMBEDDINGS,
    ReferenceParams,
    ReferencePassMethod,
    provenance,
    reference_features,
    unit_rows,
)
from curation.method import BudgetError, CurationContext, Selection
from curation.methods.baselines.scoring import band_details, select_band

KEEP_BANDS = {"hard": "high", "easy": "low"}


@dataclass
class SelfSupParams(ReferenceParams):
    feature: str = choice("mean_last", EMBEDDINGS)
    k: int = 50  # k-means clusters
    niter: int = 50
    kmeans_device: str = "auto"
    keep: str = choice("hard", tuple(KEEP_BANDS))


class UnitRows:
    """A (possibly memory-mapped) feature matrix seen with every row scaled to unit L2 norm
    (float32; `unit_rows` of the rows asked for), without a normalised copy of the whole."""

    def __init__(self, features: np.ndarray, block_rows: int = 16384) -> None:
        self.features, self.block_rows = features, block_rows
        self.shape, self.dtype = features.shape, np.dtype(np.float32)

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, rows: Any) -> np.ndarray:
        return unit_rows(take_rows(self.features, rows))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = np.empty(self.shape, dtype=np.float32)
        for start in range(0, len(self), self.block_rows):
            out[start : start + self.block_rows] = self[start : start + self.block_rows]
        return out if dtype is None else out.astype(dtype, copy=False)


def prototypicality(
    features: np.ndarray | UnitRows, centroids: np.ndarray, block_rows: int = 16384
) -> np.ndarray:
    """Cosine distance of each unit-norm row to its nearest unit-norm centroid (float64),
    a block of rows at a time."""
    cent = np.asarray(centroids, np.float64)
    out = np.empty(len(features), dtype=np.float64)
    for start in range(0, len(features), block_rows):
        block = np.asarray(read_rows(features, start, start + block_rows), np.float64)
        out[start : start + len(block)] = 1.0 - (block @ cent.T).max(1)
    return out


class SelfSupSelection(ReferencePassMethod):
    name = "self_sup"
    Params = SelfSupParams

    def select(self, ctx: CurationContext, budget: int | None) -> Selection:
        assert budget is not None
        p: SelfSupParams = self.params
        if not 1 <= p.k <= len(ctx):
            raise BudgetError(
                f"params.k={p.k} clusters must lie in 1..{len(ctx)} (the pool's "
                "size): change params.k"
            )
        features, reference = reference_features(p, ctx)
        vectors = UnitRows(features.load(p.feature))
        clustering = spherical_kmeans(
            vectors,
            p.k,
            niter=p.niter,
            seed=ctx.seed,
            features_id=f"{features.sha256(p.feature)}:unit-rows",
            cache_dir=ctx.cache_dir,
            device=p.kmeans_device,
            progress=ctx.progress,
        )
        distance = prototypicality(vectors, clustering.centroids)
        band = KEEP_BANDS[p.keep]
        chosen = select_band(distance, budget, band)
        details = {
            "score": "cosine distance to the nearest centroid",
            "keep": p.keep,
            **band_details(distance, chosen, band),
            "kmeans": {
                "path": str(clustering.path),
                "key": clustering.key,
                "k": clustering.k,
                "seed": ctx.seed,
            },
            **provenance(reference, features, p.feature),
        }
        return Selection(indices=chosen, details=details)
