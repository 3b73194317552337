"""The one cached pass of the reference LVLM that every model-based baseline reads.

    features, reference = reference_features(params, ctx)   # params: a ReferenceParams
    nll = features.load("answer_stats")[:, ANSWER_STATS_COLUMNS.index("mean_nll")]

The reference is COINCIDE's (same params names, same tiny-reference recipe), so every
baseline is scored with the model COINCIDE clusters with. The pass always asks for ALL feature
kinds with COINCIDE's ToyWorld request values: EL2N, Perplexity, SemDeDup, D2-Pruning,
Self-Sup and Self-Filter then share one cache entry, and so does COINCIDE (a finished set
serves any request for fewer kinds of the same pass). Only when COINCIDE ran first without
`extra_kinds: [last_token, mean_last, answer_stats]` does a second pass happen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from curation.features.extract import (
    ANSWER_STATS_COLUMNS,
    KINDS,
    FeatureRequest,
    FeatureSet,
    Reference,
    extract_features,
)
from curation.features.reference import TRAIN_TINY, PassSpec, TinyReferenceRecipe
from curation.method import CurationContext, CurationMethod

EMBEDDINGS = ("mean_last", "last_token", "coincide")  # the pass's per-record vectors


@dataclass
class ReferenceParams:
    # An HF LLaVA checkpoint (directory, or hub name in the local cache), or "tiny": train a
    # tiny LLaVA on the pool (cached per pool) and use it. Defaults: coincide_toyworld.yaml's.
    reference: str = TRAIN_TINY
    layers: list[int] = field(default_factory=lambda: [0, 1])  # COINCIDE's hooked layers
    batch_size: int = 32
    chunk_size: int = 512
    max_length: int = 512
    dtype: str = "float32"
    device: str = "auto"
    cpu_threads: int = 1  # torch threads of the pass on CPU (0: torch's default); same bytes
    # reference=tiny: how the tiny reference is trained
    reference_epochs: int = TinyReferenceRecipe.epochs
    reference_lr: float = TinyReferenceRecipe.lr
    reference_batch_size: int = TinyReferenceRecipe.batch_size
    reference_seed: int = TinyReferenceRecipe.seed


class ReferencePassMethod(CurationMethod):
    """A method that reads the shared reference pass (its Params extend ReferenceParams)."""

    def pass_spec(self) -> PassSpec:
        return reference_pass(self.params)


def reference_pass(params: ReferenceParams) -> PassSpec:
    """The reference named by `params` and the all-kinds pass every baseline reads."""
    request = FeatureRequest(
        layers=tuple(params.layers),
        kinds=KINDS,
        batch_size=params.batch_size,
        chunk_size=params.chunk_size,
        max_length=params.max_length,
        dtype=params.dtype,
        device=params.device,
        cpu_threads=params.cpu_threads,
    )
    recipe = TinyReferenceRecipe(
        params.reference_epochs,
        params.reference_lr,
        params.reference_batch_size,
        seed=params.reference_seed,
    )
    return PassSpec(params.reference, recipe, request)


def reference_features(
    params: ReferenceParams, ctx: CurationContext
) -> tuple[FeatureSet, Reference]:
    """The reference named by `params` and its features of the pool (computed once, cached)."""
    feature_pass = reference_pass(params).resolve(ctx)
    features = extract_features(
        ctx.records,
        ctx.image_root,
        feature_pass.reference,
        feature_pass.request,
        ctx.cache_dir,
        ctx.pool_sha256,
        progress=ctx.progress,
    )
    assert features is not None  # shard=None always merges
    return features, feature_pass.reference


def answer_stat(features: FeatureSet, column: str) -> np.ndarray:
    """One per-record answer-token statistic (mean_nll | el2n | aum), float64, NaN if none."""
    stats = features.load("answer_stats", mmap=False)
    return stats[:, ANSWER_STATS_COLUMNS.index(column)].astype(np.float64)


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm, float32 (all-zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def provenance(reference: Reference, features: FeatureSet, kind: str) -> dict[str, Any]:
    """Which model and which cached features a selection was computed from."""
    return {
        "reference": {"name": reference.name, "fingerprint": reference.fingerprint},
        "features": {"path": str(features.path), "kind": kind, "sha256": features.sha256(kind)},
    }
