"""`vlmdata data validate|stats|decontaminate`: check, describe and decontaminate a LLaVA pool."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from configs.compose import ConfigError, choice, choices_hint, compose, config_path, to_object
from curation.data.limits import RecordLimits
from curation.data.records import (
    RecordRules,
    format_stats,
    iter_valid_records,
    load_records,
    pool_stats,
    write_records,
)
from curation.decontaminate.config import DecontaminateConfig, check_config
from experiments.commands import add_command, add_force, add_overrides


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


@dataclass
class DecontaminateCommandConfig(DecontaminateConfig):
    image_root: str = ""  # where the pool's image paths start; "" = the pool file's folder
    out_dir: str = ""  # "" = outputs/decontaminated/<pool name>-<suite>
    on_error: str = choice("raise", ("raise", "skip"))  # invalid pool records
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

    decontaminate = add_command(
        commands,
        "decontaminate",
        _decontaminate,
        help="remove pool records that leak a suite's benchmark images or questions",
        description="Check every record of the pool against the documents of a suite's tasks "
        "(their local parquet files under data_root): the same image (decoded pixels), a "
        "near-duplicate (perceptual hash, then a pixel check) or the benchmark's question "
        "text (word n-grams). Writes the pool without those records, removed.jsonl and "
        "report.json/.md into out_dir. config=NAME loads configs/decontaminate/NAME.yaml "
        "(default; toyworld for ToyWorld's 32-px images); other keys override it.",
        keys="keys: suite=NAME  data_root=DIR  config=NAME  only=[TASK,..]  missing=raise|skip  "
        "kinds=[exact,near,text]  near.max_hamming|max_pixel_difference|max_shift|side=N  "
        "text.ngram|min_overlap|boilerplate_share|boilerplate_min_count=N  text.fields=[..]  "
        "image_root=DIR  out_dir=DIR  on_error=raise|skip  image_paths=inside|any  "
        "examples=N  progress=true|false",
    )
    decontaminate.add_argument("path", help="pool file (.json or .jsonl)")
    add_force(decontaminate, "replace an out_dir that holds something else")
    add_overrides(decontaminate)


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


def _decontaminate(args: argparse.Namespace) -> int:
    from curation.decontaminate.run import decontaminate
    from experiments.plan import benchmark_sources

    overrides = [o for o in args.overrides if not o.startswith("config=")]
    name = next((o.split("=", 1)[1] for o in args.overrides if o.startswith("config=")), "default")
    yaml = config_path("decontaminate", name)
    if not yaml.is_file():
        raise ConfigError(
            f"config={name}: no config '{name}' in group 'decontaminate'"
            + choices_hint("decontaminate")
        )
    cfg: DecontaminateCommandConfig = to_object(
        compose(DecontaminateCommandConfig, yaml, overrides)
    )
    if not cfg.suite:
        raise ConfigError(
            "config key 'suite' is required: set suite=NAME (the suite to check against)"
        )
    check_config(cfg)
    sources, unchecked = benchmark_sources(cfg)
    pool = Path(args.path)
    out_dir = cfg.out_dir or f"outputs/decontaminated/{pool.stem}-{cfg.suite}"
    report = decontaminate(
        pool,
        sources,
        cfg,
        out_dir,
        image_root=cfg.image_root or None,
        on_error=cfg.on_error,
        rules=RecordRules(cfg.image_paths, cfg.limits),
        unchecked_tasks=unchecked,
        force=args.force,
    )
    records, by_kind = report["records"], report["matched_by_kind"]
    print(
        f"{pool}: {records['removed']} of {records['read']} records leak {cfg.suite} "
        f"(exact image {by_kind['exact']}, near-duplicate {by_kind['near']}, question text "
        f"{by_kind['text']}); {records['kept']} kept in {Path(out_dir) / ('pool' + pool.suffix)}; "
        f"report: {Path(out_dir) / 'report.md'}"
    )
    if unchecked:
        print(f"not checked (no local data under data_root): {', '.join(unchecked)}")
    return 0
