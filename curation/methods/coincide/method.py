"""COINCIDE (Lee et al., EMNLP 2024): concept-skill transferability-based selection.

Reference-model activations -> spherical k-means -> per-cluster transferability / density ->
softmax budget allocation -> greedy MMD inside each cluster (README.md here). Features and the
clustering are cached per pool (cache_dir), so a sweep over budgets and temperatures
only re-runs the selection stage. The k-means seed is the run's seed (1234 in the paper).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from curation.features.extract import extract_features
from curation.features.kmeans import spherical_kmeans
from curation.features.reference import PassSpec, ReferencePassParams
from curation.features.reference_pass import ReadsReferencePass, reference_pass
from curation.method import BudgetError, CurationContext, CurationMethod, Selection
from curation.methods.coincide.scores import MASK_THRESHOLD, FeatureLayout
from curation.methods.coincide.select import MemoryBudget, select_coincide

GIB = 1 << 30


def _paper_reference() -> ReferencePassParams:
    """TinyLLaVA-2.0B's hooked layers and pass; `model` still "tiny" (a checkpoint in the YAMLs)."""
    return ReferencePassParams(
        layers=[3, 7, 11, 15, 19], batch_size=8, max_length=2048, cpu_threads=0
    )


@dataclass
class CoincideParams:
    # The reference LVLM (model: an HF LLaVA checkpoint, or "tiny": a tiny LLaVA trained on the
    # pool by experiments/) and its feature pass (shared with the other model-based methods:
    # extra_kinds adds to one pass)
    reference: ReferencePassParams = field(default_factory=_paper_reference)
    k: int = 10000  # k-means clusters
    niter: int = 50
    tau: float = 0.1  # softmax temperature of the allocation
    sigma: float = 1.0  # Gaussian kernel bandwidth
    mask_threshold: float = MASK_THRESHOLD
    extra_kinds: list[str] = field(default_factory=list)
    kmeans_device: str = "auto"
    kmeans_max_train_gb: float = 8.0  # float32 rows k-means trains on (a seeded sample beyond)
    # memory of the selection stage
    kernel_gb: float = 1.0  # one cluster's kernel held whole up to this; larger: row by row
    kernel_cache_gb: float = 2.0  # kernels kept between the density and the MMD pass


class CoincideSelection(ReadsReferencePass, CurationMethod):
    name = "coincide"
    Params = CoincideParams

    def select(self, ctx: CurationContext, budget: int | None) -> Selection:
        p: CoincideParams = self.params
        assert budget is not None
        if p.k > len(ctx):
            raise BudgetError(
                f"params.k={p.k} clusters is more than the pool's {len(ctx)} "
                "samples: lower params.k"
            )
        feature_pass = self.feature_pass()
        reference = feature_pass.reference
        features = extract_features(
            ctx.records,
            ctx.image_root,
            reference,
            feature_pass.request,
            ctx.cache_dir,
            ctx.pool_sha256,
            progress=ctx.progress,
        )
        assert features is not None
        vectors = features.load("coincide")
        clustering = spherical_kmeans(
            vectors,
            p.k,
            niter=p.niter,
            seed=ctx.seed,
            features_id=features.sha256("coincide"),
            cache_dir=ctx.cache_dir,
            device=p.kmeans_device,
            max_train_bytes=int(p.kmeans_max_train_gb * GIB),
            progress=ctx.progress,
        )
        result = select_coincide(
            vectors,
            clustering.assignments,
            clustering.centroids,
            FeatureLayout(len(p.reference.layers), features.hidden),
            target=budget,
            tau=p.tau,
            sigma=p.sigma,
            threshold=p.mask_threshold,
            progress=ctx.progress,
            memory=MemoryBudget(
                kernel_bytes=int(p.kernel_gb * GIB), cache_bytes=int(p.kernel_cache_gb * GIB)
            ),
        )
        details: dict[str, Any] = {
            "reference": {"name": reference.name, "fingerprint": reference.fingerprint},
            "features": {
                "path": str(features.path),
                "sha256": features.sha256("coincide"),
                "dim": int(vectors.shape[1]),
            },
            "kmeans": {
                "path": str(clustering.path),
                "key": clustering.key,
                "k": clustering.k,
                "seed": ctx.seed,
            },
            **result.details(),
        }
        return Selection(indices=result.indices, details=details)

    def pass_spec(self) -> PassSpec:
        p: CoincideParams = self.params
        kinds = ("coincide", *[k for k in p.extra_kinds if k != "coincide"])
        return reference_pass(p.reference, kinds)
