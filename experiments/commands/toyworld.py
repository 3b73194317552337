"""`vlmdata toyworld make|describe`: the embedded synthetic long-tailed world."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from configs.compose import compose, config_path, to_object
from experiments.commands import add_command, add_overrides
from toyworld.config import ToyWorldConfig
from toyworld.describe import describe_world
from toyworld.make import make_world


@dataclass
class DescribeConfig:
    world_dir: str = "outputs/toyworld"
    out_dir: str = ""  # where the plots go; default: <world_dir>/describe


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


def toyworld_config(overrides: list[str]) -> ToyWorldConfig:
    return to_object(
        compose(ToyWorldConfig, config_path("data", "toyworld"), overrides, select="toyworld")
    )


def _make(args: argparse.Namespace) -> int:
    make_world(toyworld_config(args.overrides))
    return 0


def _describe(args: argparse.Namespace) -> int:
    cfg: DescribeConfig = to_object(compose(DescribeConfig, overrides=args.overrides))
    describe_world(cfg.world_dir, out_dir=cfg.out_dir or None)
    return 0
