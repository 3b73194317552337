"""`vlmdata curate`: select a subset of a pool with one curation method; `vlmdata features`:
its reference pass ahead of time, one shard per SLURM array task."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from configs.compose import (
    ConfigError,
    choices_hint,
    compose,
    config_path,
    group_choices,
    resolved_dict,
    to_object,
)
from curation.config import CurationConfig
from curation.data.outdir import check_target
from curation.data.records import RecordRules
from curation.method import CurationMethod
from curation.registry import METHODS, build_method, get_method
from curation.run import curate, prepare_features
from experiments.commands import add_command, add_force, add_overrides
from experiments.plan import checkpoint_of, foundation_of, pool_identity, reference_job
from experiments.pools import prepare_pool
from experiments.schemas import DataConfig


@dataclass
class CurateCommandConfig(CurationConfig):
    data: DataConfig = field(default_factory=DataConfig)
    out_dir: str = ""  # default: outputs/subsets/<method>-b<budget>-s<seed>
    cache_dir: str = "outputs/cache"
    progress: bool = True


@dataclass
class FeaturesCommandConfig(CurateCommandConfig):
    shard: int = -1  # -1: every missing chunk, then the merge (run it once after an array)
    num_shards: int = 1
    reference_only: bool = False  # only the reference (train reference.model=tiny) and stop


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "curate",
        _curate,
        help="select a subset of a pool with a curation method",
        description="Select a subset with one method and write indices.npy, subset.json and "
        "manifest.json. method=NAME loads configs/curation/NAME.yaml (config=NAME picks another "
        "file, e.g. config=coincide_toyworld); other keys override it. "
        f"Methods: {', '.join(sorted(METHODS))}. Configs: {', '.join(group_choices('curation'))}.",
        keys="keys: method=NAME  config=NAME  budget=FRACTION|COUNT  seed=N  params.<key>=...  "
        f"data={'|'.join(group_choices('data'))}  data.pool=PATH (LLaVA .json/.jsonl, .parquet "
        "or a folder of parquet shards)  data.image_root=DIR  out_dir=DIR  cache_dir=DIR",
    )
    add_force(
        parser,
        "replace an out_dir that is not a finished subset (never /, the home "
        "directory or a folder holding an input)",
    )
    add_overrides(parser)

    features = add_command(
        subparsers,
        "features",
        _features,
        help="a method's reference feature pass, shard by shard (SLURM arrays)",
        description="Compute the reference pass that COINCIDE and the model-based baselines "
        "read into the per-pool cache, before `vlmdata curate`: shard=i num_shards=n computes "
        "one contiguous part (e.g. shard=$SLURM_ARRAY_TASK_ID); shard=-1 computes what is "
        "missing and merges. Same keys as curate; the bytes never depend on the sharding.",
        keys="keys: method=NAME  config=NAME  shard=I  num_shards=N  reference_only=true  "
        "params.<key>=...  "
        f"data={'|'.join(group_choices('data'))}  data.pool=PATH  data.image_root=DIR  "
        "cache_dir=DIR",
    )
    add_overrides(features)


def _compose(overrides_in: list[str], schema: type) -> tuple[Any, Any, CurationMethod]:
    """(the resolved config, its dataclass, the method) for curate-like commands."""
    overrides = [o for o in overrides_in if not o.startswith("config=")]
    method_name = next((o.split("=", 1)[1] for o in overrides if o.startswith("method=")), "random")
    config_name = next(
        (o.split("=", 1)[1] for o in overrides_in if o.startswith("config=")), method_name
    )
    yaml = config_path("curation", config_name)
    if not yaml.is_file() and config_name != method_name:
        raise ConfigError(
            f"config={config_name}: no config '{config_name}' in group 'curation'"
            f"{choices_hint('curation')}"
        )
    if config_name == method_name:
        get_method(method_name)
    cfg = compose(schema, yaml if yaml.is_file() else None, ["data=toyworld", *overrides])
    run = to_object(cfg)
    return cfg, run, build_method(run.method, cfg.params, "params")


def _features(args: argparse.Namespace) -> int:
    _, run, method = _compose(args.overrides, FeaturesCommandConfig)
    if run.num_shards < 1 or not -1 <= run.shard < run.num_shards:
        raise ConfigError(
            f"shard={run.shard} num_shards={run.num_shards}: need num_shards >= 1 "
            "and shard in -1..num_shards-1"
        )
    pool_path, image_root = prepare_pool(run.data, run.progress, run.cache_dir)
    train_reference(method, run.data, pool_path, image_root, run.cache_dir, run.progress)
    summary = prepare_features(
        method,
        pool_path=pool_path,
        image_root=image_root,
        cache_root=run.cache_dir,
        out_dir=run.out_dir or "outputs/features",
        shard=None if run.shard < 0 else run.shard,
        num_shards=run.num_shards,
        reference_only=run.reference_only,
        on_error=run.data.on_error,
        progress=run.progress,
        rules=RecordRules(run.data.image_paths, run.data.limits),
    )
    done = summary.get("path") or (
        "resolved" if run.reference_only else f"shard {run.shard} of {run.num_shards} cached"
    )
    print(f"{run.method} reference pass ({summary['reference']}): {done}")
    return 0


def _curate(args: argparse.Namespace) -> int:
    cfg, run, method = _compose(args.overrides, CurateCommandConfig)
    budget_tag = "auto" if run.budget is None else f"{run.budget:g}"
    out_dir = run.out_dir or f"outputs/subsets/{run.method}-b{budget_tag}-s{run.seed}"
    check_target(out_dir, {})  # out_dir=/ . .. ~ fail before the pool is made
    pool_path, image_root = prepare_pool(run.data, run.progress, run.cache_dir)
    train_reference(method, run.data, pool_path, image_root, run.cache_dir, run.progress)
    config = resolved_dict(cfg)
    if run.data.kind != "toyworld":
        # the root these images were read from, absolute: the subset's readers use it
        # (curation.data.subset.subset_image_root) without being told
        config["data"]["image_root"] = str(image_root.resolve()) if image_root else ""
    subset = curate(
        method,
        pool_path=pool_path,
        image_root=image_root,
        budget=run.budget,
        seed=run.seed,
        out_dir=out_dir,
        cache_root=run.cache_dir,
        config=config,
        on_error=run.data.on_error,
        progress=run.progress,
        force=args.force,
        rules=RecordRules(run.data.image_paths, run.data.limits),
    )
    counts = subset.manifest["counts"]
    print(
        f"{run.method}: {counts['selected']} of {counts['pool']} samples "
        f"({100 * counts['fraction_of_pool']:.1f}%) -> {subset.path}"
    )
    return 0


def train_reference(
    method: CurationMethod,
    data: DataConfig,
    pool_path: str | Path,
    image_root: str | Path | None,
    cache_dir: str | Path,
    progress: bool = True,
) -> None:
    """params.reference.model=tiny: the plan's reference job (same key, same folder under
    <cache_dir>/reference/: a sweep on the same pool and cache shares it), run here unless
    finished, and its checkpoint handed to `method`. Any other method: nothing."""
    from experiments.stages import execute

    job = reference_job(
        method,
        pool_key=pool_identity(data, Path(pool_path)),
        pool_path=Path(pool_path).resolve(),
        image_root=Path(image_root).resolve() if image_root else None,
        data=data,
        cache_root=Path(cache_dir),
        progress=progress,
        label=f"{method.name} reference",
    )
    if job is None:
        return
    foundation = foundation_of(job)
    if foundation is not None:
        execute(foundation)
    execute(job)
    method.use_checkpoint(checkpoint_of(job))
