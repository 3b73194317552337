"""Run one curation method on a pool and write the subset."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from curation.data.device import job_device
from curation.data.fileio import sha256_file
from curation.data.outdir import claim_output
from curation.data.records import LoadResult, RecordRules, load_records
from curation.data.subset import Subset, is_finished, work_dir, write_subset
from curation.features.extract import FeatureError, extract_features, feature_key
from curation.features.reference import uses_reference
from curation.features.reference_pass import reads_reference_pass
from curation.method import (
    CurationContext,
    CurationMethod,
    refuse_ignored_budget,
    resolve_budget,
)


def curate(
    method: CurationMethod,
    *,
    pool_path: str | Path,
    image_root: str | Path | None,
    budget: float | None,
    seed: int,
    out_dir: str | Path,
    cache_root: str | Path,
    config: Mapping[str, Any],
    on_error: str = "raise",
    progress: bool = True,
    force: bool = False,
    rules: RecordRules | None = None,
) -> Subset:
    """Load and validate the pool, select with `method`, write the subset atomically.

    `config` is the resolved config saved in the manifest. Per-pool work that several runs share
    (features, clusterings, entities) is cached under `cache_root/<pool sha256[:16]>/`.
    An existing `out_dir` is replaced only when it is a finished subset (or empty), unless
    `force`; it is locked for the whole run (curation.data.outdir). `rules`: where the pool's
    images may live and the caps on its records (default: curation.data.records.RecordRules()).
    """
    refuse_ignored_budget(method, budget)
    if uses_reference(method):
        method.reference_checkpoint()  # model=tiny handed no checkpoint fails here, at once
    inputs = {"the pool": pool_path, "the image root": image_root, "the cache": cache_root}
    with claim_output(
        out_dir, kind="subset", owned=is_finished, force=force, replaces=True, inputs=inputs
    ):
        return _curate(
            method,
            pool_path,
            image_root,
            budget,
            seed,
            out_dir,
            cache_root,
            config,
            on_error,
            progress,
            rules,
        )


def _curate(
    method: CurationMethod,
    pool_path: str | Path,
    image_root: str | Path | None,
    budget: float | None,
    seed: int,
    out_dir: str | Path,
    cache_root: str | Path,
    config: Mapping[str, Any],
    on_error: str,
    progress: bool,
    rules: RecordRules | None,
) -> Subset:
    timings: dict[str, float] = {}
    began = start = time.perf_counter()
    loaded, ctx = load_context(
        pool_path, image_root, cache_root, out_dir, seed, on_error, progress, rules
    )
    timings["load_pool"] = time.perf_counter() - start
    target = resolve_budget(budget, len(loaded.records), method.needs_budget)
    start = time.perf_counter()
    selection = method.select(ctx, target)
    timings["select"] = time.perf_counter() - start

    chosen = np.asarray(selection.indices, dtype=np.int64)
    positions = np.asarray(loaded.positions, dtype=np.int64)
    details = dict(selection.details)
    if loaded.skipped:
        details["skipped_pool_records"] = dict(loaded.skipped)
    timings["total"] = time.perf_counter() - began  # up to writing the subset
    return write_subset(
        out_dir,
        method=method.name,
        indices=positions[chosen],
        records=[loaded.records[i] for i in chosen.tolist()],
        pool_path=ctx.pool_path,
        image_root=ctx.image_root,
        pool_size=loaded.n_read,
        config=config,
        seed=seed,
        synthetic_records=selection.synthetic_records,
        timings=timings,
        details=details,
        pool_sha256=ctx.pool_sha256,
        device=job_device(),
    )


def load_context(
    pool_path: str | Path,
    image_root: str | Path | None,
    cache_root: str | Path,
    out_dir: str | Path,
    seed: int,
    on_error: str = "raise",
    progress: bool = True,
    rules: RecordRules | None = None,
) -> tuple[LoadResult, CurationContext]:
    """Read and validate the pool; the context a method selects from."""
    pool_path = Path(pool_path)
    pool_sha = sha256_file(pool_path)
    loaded = load_records(
        pool_path, image_root=image_root, on_error=on_error, progress=progress, rules=rules
    )
    ctx = CurationContext(
        pool_path=pool_path,
        image_root=Path(image_root) if image_root else None,
        records=loaded.records,
        pool_sha256=pool_sha,
        cache_dir=Path(cache_root) / pool_sha[:16],
        run_dir=work_dir(out_dir),
        seed=seed,
        progress=progress,
    )
    return loaded, ctx


def prepare_features(
    method: CurationMethod,
    *,
    pool_path: str | Path,
    image_root: str | Path | None,
    cache_root: str | Path,
    out_dir: str | Path,
    shard: int | None = None,
    num_shards: int = 1,
    reference_only: bool = False,
    on_error: str = "raise",
    progress: bool = True,
    rules: RecordRules | None = None,
) -> dict[str, Any]:
    """Ahead of `curate`, `method`'s reference pass into the per-pool cache: shard i of
    `num_shards` (a SLURM array task), or shard=None: every missing chunk, then the merge.
    reference_only: just load the reference's fingerprint. A tiny reference (model=tiny) is
    trained by experiments/ and handed over first (`method.use_checkpoint`)."""
    if not reads_reference_pass(method):
        raise FeatureError(
            f"method={method.name} has no reference feature pass (COINCIDE and "
            "the model-based baselines have one)"
        )
    method.reference_checkpoint()  # a missing checkpoint fails before the pool is read
    feature_pass = method.feature_pass()
    _, ctx = load_context(pool_path, image_root, cache_root, out_dir, 0, on_error, progress, rules)
    reference, request = feature_pass.reference, feature_pass.request
    summary: dict[str, Any] = {
        "reference": reference.name,
        "fingerprint": reference.fingerprint,
        "feature_key": feature_key(ctx.pool_sha256, reference, request),
    }
    if reference_only:
        return summary
    features = extract_features(
        ctx.records,
        ctx.image_root,
        reference,
        request,
        ctx.cache_dir,
        ctx.pool_sha256,
        shard=shard,
        num_shards=num_shards,
        progress=progress,
    )
    summary.update(shard=shard, num_shards=num_shards)
    if features is not None:
        summary["path"] = str(features.path)
    return summary
