"""`vlmdata toyworld make|describe|pretrain`: the embedded synthetic long-tailed world."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from configs.compose import compose, config_path, to_object
from experiments.commands import add_command, add_overrides
from experiments.schemas import DataConfig
from toyworld.config import ToyWorldConfig
from toyworld.describe import describe_world
from toyworld.make import make_world


@dataclass
class DescribeConfig:
    world_dir: str = "outputs/toyworld"
    out_dir: str = ""  # where the plots go; default: <world_dir>/describe


@dataclass
class PretrainConfig(DataConfig):
    out_dir: str = ""  # default: outputs/foundation/toyworld-<key>
    progress: bool = True
    # copy the foundation shipped with the project when it has this key (training/foundation/
    # shipped.py); false: build it here
    use_shipped: bool = True
    # build here and ship the result: copy it under training/foundation/shipped/ (replacing the
    # one shipped before) for every later clone's demo to copy instead of build
    ship: bool = False


def register(subparsers: argparse._SubParsersAction) -> None:
    toyworld = subparsers.add_parser("toyworld", help="make and describe the ToyWorld testbed")
    commands = toyworld.add_subparsers(dest="toyworld_command", metavar="SUBCOMMAND", required=True)

    make = add_command(
        commands,
        "make",
        _make,
        help="generate the ToyWorld pool, images, annotations and benchmarks",
        description="Generate a ToyWorld (deterministic for a seed) from "
        "configs/data/toyworld.yaml plus overrides.",
        keys="keys: every field of the `toyworld:` node in configs/data/toyworld.yaml, "
        "e.g. out_dir=DIR seed=N pool_size=N image_size=N",
    )
    add_overrides(make)

    describe = add_command(
        commands,
        "describe",
        _describe,
        help="concept frequency tables and rank-frequency plots of a ToyWorld pool",
        description="Print per-perspective long-tail tables (token, object, co_occurrence, "
        "interrogation) and write a log-log rank-frequency PNG per perspective.",
        keys="keys: world_dir=DIR  out_dir=DIR",
    )
    add_overrides(describe)

    pretrain = add_command(
        commands,
        "pretrain",
        _pretrain,
        help="make a world's foundation models (tiny CLIP, tiny LM, stage-1 projector)",
        description="LLaVA-1.5's stages 0 and 1 in miniature on the world's own pretraining "
        "corpus (training/foundation/): what stage 2 (model.kind=assemble model.foundation=DIR) "
        "starts from. Kept when already made; `vlmdata run` and `sweep` make it themselves "
        "(model.foundation=world) under <store>/cache/foundation/.",
        keys="keys: toyworld.<key>=... (the world, configs/data/toyworld.yaml)  "
        "foundation.<key>=... (training.foundation.recipe, e.g. foundation.vision.steps=N)  "
        "out_dir=DIR  use_shipped=false (build even where one ships)  ship=true (build, then "
        "ship it with the project: training/foundation/shipped/)",
    )
    add_overrides(pretrain)


def toyworld_config(overrides: list[str]) -> ToyWorldConfig:
    return to_object(
        compose(ToyWorldConfig, config_path("data", "toyworld"), overrides, select="toyworld")
    )


def _make(args: argparse.Namespace) -> int:
    make_world(toyworld_config(args.overrides))
    return 0


def _pretrain(args: argparse.Namespace) -> int:
    from training.foundation.build import (
        MANIFEST,
        SHIPPED_PARTS,
        build_foundation,
        foundation_key,
        read_manifest,
    )
    from training.foundation.shipped import ship

    cfg: PretrainConfig = to_object(
        compose(PretrainConfig, config_path("data", "toyworld"), args.overrides)
    )
    key = foundation_key(cfg.toyworld, cfg.foundation)
    out_dir = cfg.out_dir or f"outputs/foundation/toyworld-{key[:12]}"
    build_foundation(
        cfg.toyworld,
        cfg.foundation,
        out_dir,
        progress=cfg.progress,
        use_shipped=cfg.use_shipped and not cfg.ship,
    )
    manifest = read_manifest(out_dir)
    if cfg.ship:
        shipped = ship(Path(out_dir), SHIPPED_PARTS, MANIFEST)
        print(f"shipped: {shipped} (commit it; the one shipped before is removed)")
    checks, seconds = manifest["checks"], manifest["seconds"]
    made = f"{sum(seconds.values()):.0f} s to make"
    if "shipped" in manifest:
        made = f"copied from the shipped one, {made} on {manifest['shipped']['built_on']}"
    group = round(1 / checks["retrieval_chance"])
    captions = checks["captions"]
    grounded = "; ".join(
        f"{skill} {100 * c['accuracy']:.1f}% (grey {100 * c['grey']:.1f}%)"
        for skill, c in checks["grounded"].items()
    )
    print(
        f"foundation {key[:12]} in {out_dir} ({made}). "
        f"Held-out scenes: caption retrieval {100 * checks['retrieval']:.1f}% among {group} "
        f"(chance {100 / group:.0f}%); dense shape {100 * checks['dense_shape']:.1f}%, "
        f"colour {100 * checks['dense_colour']:.1f}%. Stage 1 names in held-out captions: "
        f"shapes {100 * captions['shape']:.1f}% (grey image {100 * captions['shape_grey']:.1f}%"
        f", chance {100 / len(cfg.toyworld.shapes):.0f}%), colours "
        f"{100 * captions['colour']:.1f}% (grey {100 * captions['colour_grey']:.1f}%, chance "
        f"{100 / len(cfg.toyworld.colours):.0f}%). Grounded questions answered (short "
        f"answer's first word): {grounded or 'none asked'}.\n"
        f"Stage 2 from it: model.kind=assemble model.foundation={out_dir}"
    )
    return 0


def _describe(args: argparse.Namespace) -> int:
    cfg: DescribeConfig = to_object(compose(DescribeConfig, overrides=args.overrides))
    describe_world(cfg.world_dir, out_dir=cfg.out_dir or None)
    return 0
