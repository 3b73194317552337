"""decontaminate(): index the benchmarks, stream the pool, write the pool without its leaks.

The output folder holds the clean pool (pool.json or pool.jsonl, as the input), removed.jsonl
(each removed record's position, id and matches), report.json, report.md and config.yaml;
it is built under a temporary name and renamed into place, so a killed run leaves none of it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from PIL import Image

from curation.data.fileio import (
    atomic_directory,
    atomic_write_json,
    atomic_write_text,
    save_resolved,
)
from curation.data.outdir import claim_output
from curation.data.records import RecordRules, iter_valid_records, record_images, write_records
from curation.decontaminate.benchmarks import BenchmarkSource, build_index
from curation.decontaminate.config import DecontaminateConfig, check_config
from curation.decontaminate.report import Tally, markdown, summary
from curation.decontaminate.scan import record_matches

REPORT = "report.json"


def is_decontaminated(path: Path) -> bool:
    """Whether `path` is an output folder of decontaminate (which replaces it as a whole)."""
    return (path / REPORT).is_file() and (path / "removed.jsonl").is_file()


def decontaminate(
    pool: str | Path,
    sources: list[BenchmarkSource],
    cfg: DecontaminateConfig,
    out_dir: str | Path,
    *,
    image_root: str | Path | None = None,
    on_error: str = "raise",
    rules: RecordRules | None = None,
    unchecked_tasks: Iterable[str] = (),
    force: bool = False,
    ignore: Iterable[str] = (),
) -> dict[str, Any]:
    """Check `pool` against the benchmarks of `sources`; returns the report (report.json).

    image_root: where the pool's image paths start (default: the pool file's folder).
    unchecked_tasks: tasks of the suite that were not found locally, for the report.
    """
    check_config(cfg)
    pool = Path(pool)
    root = Path(image_root) if image_root else pool.parent
    started = time.perf_counter()
    inputs = {"the pool": pool, "the image root": root}
    with claim_output(
        out_dir,
        kind="decontaminated pool",
        owned=is_decontaminated,
        force=force,
        replaces=True,
        inputs=inputs,
        ignore=ignore,
    ) as target:
        index = build_index(sources, cfg)
        stream = iter_valid_records(pool, root, on_error, cfg.progress, rules)
        tally = Tally(cfg.examples)
        removed: list[dict[str, Any]] = []
        with atomic_directory(target) as tmp:
            kept = write_records(
                tmp / f"pool{pool.suffix}", _kept(stream, root, index, cfg, tally, removed)
            )
            atomic_write_text(
                tmp / "removed.jsonl",
                "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in removed),
            )
            header = {
                "pool": str(pool),
                "image_root": str(root),
                "suite": cfg.suite,
                "tasks_checked": [source.task for source in sources],
                "unchecked_tasks": list(unchecked_tasks),
            }
            records = {
                "read": stream.n_read,
                "kept": kept,
                "removed": len(removed),
                "skipped": stream.skipped,
            }
            report = summary(index, tally, records, header)
            report["seconds"] = round(time.perf_counter() - started, 3)
            atomic_write_json(tmp / REPORT, report)
            atomic_write_text(tmp / "report.md", markdown(report))
            save_resolved(cfg, tmp / "config.yaml")
    return report


def _kept(
    stream: Iterable[tuple[int, dict[str, Any]]],
    root: Path,
    index: Any,
    cfg: DecontaminateConfig,
    tally: Tally,
    removed: list[dict[str, Any]],
) -> Iterator[dict[str, Any]]:
    with_images = bool({"exact", "near"} & set(cfg.kinds))
    for position, record in stream:
        images = []
        if with_images:
            for path in record_images(record):
                with Image.open(root / path) as image:
                    image.load()
                    images.append(image)
        matches = record_matches(record, images, index, cfg)
        if not matches:
            yield record
            continue
        tally.add(record["id"], matches)
        rows = [{"kind": m.kind, "task": m.task, "item": m.item, **m.detail} for m in matches]
        removed.append({"position": position, "id": record["id"], "matches": rows})
