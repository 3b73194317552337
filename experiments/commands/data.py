"""`vlmdata data validate|stats`: check and describe a LLaVA pool."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from configs.compose import choice, compose, to_object
from curation.data.limits import RecordLimits
from curation.data.records import (
    RecordRules,
    format_stats,
    iter_valid_records,
    load_records,
    pool_stats,
    write_records,
)
from experiments.commands import add_command, add_overrides


@dataclass
class ValidateConfig:
    image_root: str | None = None  # check that images exist and decode
    on_error: str = choice("raise", ("raise", "skip"))
    out: str | None = None  # with on_error=skip: write the valid records here (.json/.jsonl)
    progress: bool = True
    image_paths: str = choice("inside", ("inside", "any"))  # inside: relative, without '..'
    limits: RecordLimits = field(default_factory=RecordLimits)


@dataclass
class StatsConfig:
    on_error: str = choice("raise", ("raise", "skip"))
    progress: bool = True
    image_paths: str = choice("inside", ("inside", "any"))
    limits: RecordLimits = field(default_factory=RecordLimits)


def register(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="validate and describe LLaVA pools")
    commands = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)

    validate = add_command(
        commands,
        "validate",
        _validate,
        help="check every record of a LLaVA JSON/JSONL pool",
        description="Check every record (ids, roles, <image> tokens, values, UTF-8, and the "
        "images themselves when image_root is given). Exit 0 when all are valid; otherwise "
        "print the first problem (on_error=raise) or the counts per problem (on_error=skip) "
        "and exit 1.",
        keys="keys: image_root=DIR  on_error=raise|skip  out=PATH (valid records, with skip)  "
        "image_paths=inside|any  limits.max_turn_chars|max_turns|max_json_depth|"
        "max_image_pixels=N  progress=true|false",
    )
    validate.add_argument("path", help="pool file (.json or .jsonl)")
    add_overrides(validate)

    stats = add_command(
        commands,
        "stats",
        _stats,
        help="print record, turn, image and length statistics of a pool",
        description="One streaming pass over the pool; prints a table of statistics.",
        keys="keys: on_error=raise|skip  image_paths=inside|any  limits.<cap>=N  "
        "progress=true|false",
    )
    stats.add_argument("path", help="pool file (.json or .jsonl)")
    add_overrides(stats)


def _validate(args: argparse.Namespace) -> int:
    cfg: ValidateConfig = to_object(compose(ValidateConfig, overrides=args.overrides))
    result = load_records(
        args.path,
        image_root=cfg.image_root,
        on_error=cfg.on_error,
        progress=cfg.progress,
        rules=RecordRules(cfg.image_paths, cfg.limits),
    )
    n_bad = sum(result.skipped.values())
    if cfg.out:
        write_records(cfg.out, result.records)
    if not n_bad:
        print(f"{args.path}: all {result.n_read} records are valid")
        return 0
    print(
        f"{args.path}: {len(result.records)} of {result.n_read} records are valid; {n_bad} skipped:"
    )
    for reason, count in sorted(result.skipped.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {reason:<24} {count}")
    if cfg.out:
        print(f"valid records written to {cfg.out}")
    return 1


def _stats(args: argparse.Namespace) -> int:
    cfg: StatsConfig = to_object(compose(StatsConfig, overrides=args.overrides))
    records = (
        record
        for _, record in iter_valid_records(
            args.path,
            on_error=cfg.on_error,
            progress=cfg.progress,
            rules=RecordRules(cfg.image_paths, cfg.limits),
        )
    )
    print(format_stats(pool_stats(records)))
    return 0
