"""`vlmdata curate`: select a subset of a pool with one curation method."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from configs.compose import (
    ConfigError,
    compose,
    compose_node,
    config_path,
    resolved_dict,
    to_object,
)
from curation.config import CurationConfig
from curation.registry import METHODS, get_method
from curation.run import curate
from experiments.commands import add_command, add_overrides
from experiments.pools import prepare_pool
from experiments.schemas import DataConfig


@dataclass
class CurateCommandConfig(CurationConfig):
    data: DataConfig = field(default_factory=DataConfig)
    out_dir: str = ""  # default: outputs/subsets/<method>-b<budget>-s<seed>
    cache_dir: str = "outputs/cache"
    progress: bool = True


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "curate",
        _curate,
        help="select a subset of a pool with a curation method",
        description="Select a subset with one method and write indices.npy, subset.json and "
        "manifest.json. method=NAME loads configs/curation/NAME.yaml (config=NAME picks another "
        "file, e.g. config=coincide_toyworld); other keys override it. "
        f"Methods: {', '.join(sorted(METHODS))}.",
        keys="keys: method=NAME  config=NAME  budget=FRACTION|COUNT  seed=N  params.<key>=...  "
        "data=toyworld|llava665k  data.pool=PATH  data.image_root=DIR  out_dir=DIR  cache_dir=DIR",
    )
    add_overrides(parser)


def _curate(args: argparse.Namespace) -> int:
    overrides = [o for o in args.overrides if not o.startswith("config=")]
    method_name = next((o.split("=", 1)[1] for o in overrides if o.startswith("method=")), "random")
    config_name = next((o.split("=", 1)[1] for o in args.overrides if o.startswith("config=")),
                       method_name)
    yaml = config_path("curation", config_name)
    if not yaml.is_file() and config_name != method_name:
        raise ConfigError(f"no config '{config_name}' in configs/curation/")
    if config_name == method_name:
        get_method(method_name)
    cfg = compose(
        CurateCommandConfig, yaml if yaml.is_file() else None, ["data=toyworld", *overrides]
    )
    run: CurateCommandConfig = to_object(cfg)
    method_cls = get_method(run.method)
    method = method_cls(compose_node(method_cls.Params, cfg.params, "params"))
    pool_path, image_root = prepare_pool(run.data, progress=run.progress)
    budget_tag = "auto" if run.budget is None else f"{run.budget:g}"
    out_dir = run.out_dir or f"outputs/subsets/{run.method}-b{budget_tag}-s{run.seed}"
    subset = curate(
        method,
        pool_path=pool_path,
        image_root=image_root,
        budget=run.budget,
        seed=run.seed,
        out_dir=out_dir,
        cache_root=run.cache_dir,
        config=resolved_dict(cfg),
        on_error=run.data.on_error,
        progress=run.progress,
    )
    counts = subset.manifest["counts"]
    print(
        f"{run.method}: {counts['selected']} of {counts['pool']} samples "
        f"({100 * counts['fraction_of_pool']:.1f}%) -> {subset.path}"
    )
    return 0
