"""The one cached pass of the reference LVLM that every model-based baseline reads.

    features, reference = reference_features(params, ctx)   # params: a ReferenceParams
    nll = features.load("answer_stats")[:, ANSWER_STATS_COLUMNS.index("mean_nll")]

The reference is COINCIDE's (the same `reference` node, the same tiny reference), so every
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
    FeaturePass,
    FeatureRequest,
    FeatureSet,
    Reference,
    extract_features,
)
from curation.features.reference import PassSpec, ReferencePassParams, UsesReference
from curation.method import CurationContext, CurationMethod

EMBEDDINGS = ("mean_last", "last_token", "coincide")  # the pass's per-record vectors


@dataclass
class ReferenceParams:
    # The reference LVLM and its pass. Defaults: coincide_toyworld.yaml's (a tiny LLaVA trained
    # on the pool, both its layers hooked).
    reference: ReferencePassParams = field(default_factory=ReferencePassParams)


class ReadsReferencePass(UsesReference):
    """Mixin of a method whose `select` reads the reference forward pass. `pass_spec()` says
    which pass; the experiments' features stage can compute it ahead of `select`, in shards."""

    def pass_spec(self) -> PassSpec:
        raise NotImplementedError(f"{type(self).__name__} must implement pass_spec()")

    def reference_model(self) -> ReferencePassParams:
        return self.pass_spec().reference

    def feature_pass(self) -> FeaturePass:
        """`pass_spec` with its reference loaded from the checkpoint."""
        return self.pass_spec().resolve()


def reads_reference_pass(method: Any) -> bool:
    return isinstance(method, ReadsReferencePass)


class ReferencePassMethod(ReadsReferencePass, CurationMethod):
    """A method that reads the shared reference pass (its Params extend ReferenceParams)."""

    def pass_spec(self) -> PassSpec:
        return reference_pass(self.params.reference)


def reference_pass(params: ReferencePassParams, kinds: tuple[str, ...] = KINDS) -> PassSpec:
    """The reference named by `params` and its pass (all kinds: the one every baseline reads)."""
    request = FeatureRequest(
        layers=tuple(params.layers),
        kinds=kinds,
        batch_size=params.batch_size,
        chunk_size=params.chunk_size,
        max_length=params.max_length,
        dtype=params.dtype,
        device=params.device,
        cpu_threads=params.cpu_threads,
    )
    return PassSpec(params, request)


def reference_features(
    params: ReferenceParams, ctx: CurationContext
) -> tuple[FeatureSet, Reference]:
    """The reference named by `params` and its features of the pool (computed once, cached)."""
    feature_pass = reference_pass(params.reference).resolve()
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
