"""Run one curation method on a pool and write the subset."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from curation.fileio import sha256_file
from curation.method import CurationContext, CurationMethod, resolve_budget
from curation.records import load_records
from curation.subset import Subset, write_subset


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
) -> Subset:
    """Load and validate the pool, select with `method`, write the subset atomically.

    `config` is the resolved config saved in the manifest. Per-pool work that several runs share
    (features, clusterings, entities) is cached under `cache_root/<pool sha256[:16]>/`.
    """
    pool_path = Path(pool_path)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    pool_sha = sha256_file(pool_path)
    loaded = load_records(pool_path, image_root=image_root, on_error=on_error, progress=progress)
    timings["load_pool"] = time.perf_counter() - start

    target = resolve_budget(budget, len(loaded.records), method.needs_budget)
    ctx = CurationContext(
        pool_path=pool_path,
        image_root=Path(image_root) if image_root else None,
        records=loaded.records,
        pool_sha256=pool_sha,
        cache_dir=Path(cache_root) / pool_sha[:16],
        run_dir=Path(out_dir).with_name(Path(out_dir).name + ".work"),
        seed=seed,
        progress=progress,
    )
    start = time.perf_counter()
    selection = method.select(ctx, target)
    timings["select"] = time.perf_counter() - start

    chosen = np.asarray(selection.indices, dtype=np.int64)
    positions = np.asarray(loaded.positions, dtype=np.int64)
    details = dict(selection.details)
    if loaded.skipped:
        details["skipped_pool_records"] = dict(loaded.skipped)
    return write_subset(
        out_dir,
        method=method.name,
        indices=positions[chosen],
        records=[loaded.records[i] for i in chosen.tolist()],
        pool_path=pool_path,
        pool_size=loaded.n_read,
        config=config,
        seed=seed,
        synthetic_records=selection.synthetic_records,
        timings=timings,
        details=details,
        pool_sha256=pool_sha,
    )
