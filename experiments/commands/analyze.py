"""`vlmdata analyze`: ADR long-tail tables and rank-frequency plots of a pool, or of a subset
against its pool (before/after curation)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from configs.compose import compose, group_choices, to_object
from configs.errors import InputNotFoundError
from curation.data.fileio import save_resolved, sha256_file
from curation.data.records import RecordRules, load_records
from curation.data.subset import SubsetError, read_subset, subset_image_root
from curation.methods.adr.entities.extract import (
    PERSPECTIVES,
    EntityConfig,
    EntitySource,
    entity_tables,
    extract_lists,
)
from curation.methods.adr.entities.table import EntityTable
from curation.methods.adr.longtail_report import format_reports, write_report
from experiments.commands import add_command, add_overrides
from experiments.pools import prepare_pool
from experiments.schemas import DataConfig


@dataclass
class AnalyzeConfig:
    data: DataConfig = field(default_factory=DataConfig)
    subset: str = ""  # a finished subset directory: compare it with its pool
    out_dir: str = ""  # default: <subset>/longtail, or outputs/analysis/<pool folder>
    cache_dir: str = "outputs/cache"
    perspectives: list[str] = field(default_factory=lambda: list(PERSPECTIVES))
    q_token: float = 0.9
    q_object: float = 0.9
    q_co_occurrence: float = 0.75
    q_interrogation: float = 0.9
    entities: EntityConfig = field(default_factory=EntityConfig)
    progress: bool = True


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "analyze",
        _analyze,
        help="long-tail tables and rank-frequency plots of a pool (and a subset of it)",
        description="Extract ADR entities (token, object, co_occurrence, interrogation), print "
        "tau, head/tail sizes and the tail's share of entity mass per perspective, and write "
        "longtail.txt, longtail.json and log-log rank-frequency PNGs. With subset=DIR the "
        "subset is measured against its pool's head/tail split (before/after curation).",
        keys=f"keys: data={'|'.join(group_choices('data'))}  data.pool=PATH  data.image_root=DIR  "
        "subset=DIR  "
        "out_dir=DIR  perspectives=[token,object,...]  q_token=0.9 ...  "
        "entities.token.backend=lexicon|stanza  entities.object.annotations=PATH ...",
    )
    add_overrides(parser)


def _analyze(args: argparse.Namespace) -> int:
    cfg = compose(AnalyzeConfig, None, ["data=toyworld", *args.overrides])
    run: AnalyzeConfig = to_object(cfg)
    pool_path, image_root = _pool(run)
    loaded = load_records(
        pool_path,
        image_root=None,
        on_error=run.data.on_error,
        progress=run.progress,
        rules=RecordRules(run.data.image_paths, run.data.limits),
    )
    pool_sha = sha256_file(pool_path)
    source = EntitySource(
        loaded.records, image_root, pool_path, Path(run.cache_dir) / pool_sha[:16], run.progress
    )
    pool_tables = entity_tables(source, run.entities, run.perspectives)
    subset_tables, label = None, "subset"
    if run.subset:
        subset = read_subset(run.subset)
        if subset.manifest["pool"]["sha256"] != pool_sha:
            drawn_from = subset.manifest["pool"]["path"]
            raise SubsetError(
                f"subset={run.subset} was drawn from {drawn_from}, not from "
                f"{pool_path}: set data.pool to its pool"
            )
        subset_tables = _subset_tables(subset, loaded, pool_tables, source, run)
        label = f"{subset.manifest['method']} ({len(subset)} samples)"
    out_dir = Path(
        run.out_dir
        or (
            Path(run.subset) / "longtail"
            if run.subset
            else Path("outputs/analysis") / pool_path.parent.name
        )
    )
    q = {p: getattr(run, f"q_{p}") for p in PERSPECTIVES}
    reports, plots = write_report(out_dir, pool_tables, q, subset_tables, label)
    save_resolved(cfg, out_dir / "config.yaml")
    print(format_reports(reports), end="")
    print(f"tables and {len(plots)} rank-frequency plots written to {out_dir}")
    return 0


def _pool(run: AnalyzeConfig) -> tuple[Path, Path | None]:
    """The pool to analyse: a subset's own pool unless data.pool says otherwise, with the
    image root its manifest names unless data.image_root does."""
    if run.subset and not run.data.pool:
        subset = read_subset(run.subset)
        pool = Path(str(subset.manifest["pool"]["path"]))
        if not pool.exists():
            raise InputNotFoundError(f"subset={run.subset}: its pool {pool} is gone; set data.pool")
        if run.data.image_root:
            return pool, Path(run.data.image_root)
        return pool, subset_image_root(subset) or pool.parent
    return prepare_pool(run.data, run.progress, run.cache_dir)


def _subset_tables(
    subset: Any,
    loaded: Any,
    pool_tables: dict[str, EntityTable],
    source: EntitySource,
    run: AnalyzeConfig,
) -> dict[str, EntityTable]:
    """The subset's rows of the pool tables, plus its synthetic records: text perspectives
    extracted from their own text, objects (and pairs) inherited from their source sample,
    which the manifest names."""
    row_of = {int(p): i for i, p in enumerate(loaded.positions.tolist())}
    rows = [row_of[int(p)] for p in subset.indices.tolist()]
    synthetic = _synthetic_records(subset)
    provenance = {
        s["id"]: s
        for s in subset.manifest.get("details", {}).get("synthesis", {}).get("samples", [])
    }
    index_of = {r["id"]: i for i, r in enumerate(loaded.records)}
    tables = {}
    for name, table in pool_tables.items():
        chosen = table.rows(rows)
        if synthetic:
            if name in ("object", "co_occurrence"):
                sources = [
                    index_of.get(provenance.get(r["id"], {}).get("source_id"), -1)
                    for r in synthetic
                ]
                lists = [table.entities_of(i) if i >= 0 else [] for i in sources]
            else:
                lists = extract_lists(source, run.entities, name, synthetic)
            chosen = chosen.stack(EntityTable.from_lists(name, lists))
        tables[name] = chosen
    return tables


def _synthetic_records(subset: Any) -> list[dict[str, Any]]:
    # read for their text only (no image is opened): ADR names its images by absolute path
    records = load_records(subset.records_path, rules=RecordRules(image_paths="any")).records
    return records[len(subset.indices) :]
