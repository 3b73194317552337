"""make_world: build a whole ToyWorld (pool, images, annotations, entities, benchmarks)
in a temporary directory and rename it into place, so a killed make never leaves a half
world under out_dir. Same config and seed, same bytes."""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from tqdm import tqdm

from configs.errors import OutputExistsError
from curation.data import longtail
from curation.data.fileio import (
    atomic_directory,
    atomic_write_json,
    atomic_write_text,
    sha256_file,
    sha256_json,
)
from curation.data.longtail import LongTailRule
from curation.data.outdir import blocking_file
from curation.data.records import write_records
from toyworld.benchmarks import BenchmarkItem, make_benchmark
from toyworld.config import (
    SKILLS,
    ToyWorldConfig,
    as_toyworld_config,
    config_for_record,
    validate_config,
)
from toyworld.entities import PERSPECTIVES
from toyworld.hf_parquet import write_benchmark_parquet
from toyworld.leaks import Leak, plant_leaks, wants_leaks
from toyworld.pool import PoolSample, sample_pool
from toyworld.render import render_png
from toyworld.sampler import WorldSampler
from toyworld.stats import count_entities, summarise

GENERATOR = "toyworld/1"


def code_sha256() -> str:
    """Hash of the code that generates a world, so an edited generator never counts a
    world made by the old one as up to date."""
    sources = sorted(Path(__file__).parent.glob("*.py")) + [Path(longtail.__file__)]
    digest = hashlib.sha256()
    for source in sources:
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()


def world_id(cfg: ToyWorldConfig) -> str:
    return sha256_json(
        {"generator": GENERATOR, "code": code_sha256(), "config": config_for_record(cfg)}
    )


def make_world(cfg: ToyWorldConfig, progress: bool = True, force: bool = False) -> Path:
    """Build the world described by cfg under cfg.out_dir and return that path.

    An existing world with the same generator, code and config is kept as it is unless
    force; an existing world of another config is replaced; any other existing non-empty
    directory is refused (make replaces out_dir as a whole).
    """
    cfg = as_toyworld_config(cfg)
    validate_config(cfg)
    out_dir = Path(cfg.out_dir)
    blocking = blocking_file(out_dir.resolve())
    if blocking is not None:
        raise OutputExistsError(
            f"out_dir={cfg.out_dir}: {blocking} is a file, not a directory; choose another out_dir"
        )
    if not force and _is_up_to_date(out_dir, cfg):
        print(
            f"ToyWorld at {out_dir} is up to date (world {world_id(cfg)[:12]}); "
            "force=True rebuilds it."
        )
        return out_dir

    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / "world.json").is_file():
        raise OutputExistsError(
            f"{out_dir} exists and is not a ToyWorld (no world.json); refusing to replace it: "
            "choose another out_dir"
        )
    started = time.perf_counter()
    with atomic_directory(out_dir) as tmp:
        sampler = WorldSampler(cfg)
        samples = sample_pool(sampler)
        ids = [f"tw-{i:06d}" for i in range(len(samples))]
        image_hashes = _write_images(tmp, ids, samples, cfg, progress)
        records = [_record(i, s) for i, s in zip(ids, samples, strict=True)]
        annotations = _annotations(ids, samples)
        entity_rows = [{"id": i, **s.entities()} for i, s in zip(ids, samples, strict=True)]
        pool_seconds = time.perf_counter() - started

        counts = count_entities(entity_rows)
        rule = LongTailRule(counts, cfg.long_tail_q())
        benchmarks = _write_benchmarks(tmp, sampler, rule, image_hashes, progress)
        leaks = plant_leaks(sampler, benchmarks, len(samples)) if wants_leaks(cfg) else []
        if leaks:
            _add_leaks(tmp, leaks, records, annotations, entity_rows)
        write_records(tmp / "pool.json", records)
        _write_jsonl(tmp / "annotations.jsonl", annotations)
        _write_jsonl(tmp / "entities.jsonl", entity_rows)

        config_text = OmegaConf.to_yaml(OmegaConf.create(config_for_record(cfg)))
        atomic_write_text(
            tmp / "config.yaml",
            "# ToyWorld config as resolved for this world (out_dir is not recorded: a world's\n"
            "# bytes do not depend on where it is written).\n" + config_text,
        )
        summary = _summary(cfg, samples, counts, benchmarks, leaks)
        atomic_write_json(tmp / "world.json", {**summary, "files": _file_list(tmp)})
    seconds = time.perf_counter() - started
    print(_summary_paragraph(out_dir, summary, pool_seconds, seconds))
    return out_dir


def _record(sample_id: str, sample: PoolSample) -> dict[str, Any]:
    record: dict[str, Any] = {"id": sample_id}
    if sample.scene is not None:
        record["image"] = f"images/{sample_id}.png"
    record["conversations"] = sample.conversations()
    record["skills"] = sample.skills
    return record


def _add_leaks(
    root: Path,
    leaks: list[Leak],
    records: list[dict[str, Any]],
    annotations: list[dict[str, Any]],
    entity_rows: list[dict[str, Any]],
) -> None:
    """Append the planted leaks to the pool's files (after every sample) and list them in
    leaks.jsonl."""
    for leak in leaks:
        records.append(leak.record)
        entity_rows.append({"id": leak.record["id"], **leak.entities})
        if leak.png is not None and leak.scene is not None:
            (root / leak.record["image"]).write_bytes(leak.png)
            annotations.append(
                {
                    "id": leak.record["id"],
                    "image": leak.record["image"],
                    "objects": [obj.annotation() for obj in leak.scene.objects],
                    "duplicate_of": None,
                    "duplicate_kind": None,
                }
            )
    _write_jsonl(root / "leaks.jsonl", [leak.row for leak in leaks])


def _annotations(ids: list[str], samples: list[PoolSample]) -> list[dict[str, Any]]:
    return [
        {
            "id": sample_id,
            "image": f"images/{sample_id}.png",
            "objects": [obj.annotation() for obj in sample.scene.objects],
            "duplicate_of": None if sample.duplicate_of is None else ids[sample.duplicate_of],
            "duplicate_kind": sample.duplicate_kind,
        }
        for sample_id, sample in zip(ids, samples, strict=True)
        if sample.scene is not None
    ]


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def _write_images(
    root: Path, ids: list[str], samples: list[PoolSample], cfg: ToyWorldConfig, progress: bool
) -> set[str]:
    # Plain writes: the whole directory is renamed into place only once it is complete.
    (root / "images").mkdir()
    hashes = set()
    with_image = [(i, s) for i, s in zip(ids, samples, strict=True) if s.scene is not None]
    for sample_id, sample in tqdm(
        with_image, desc="toyworld images", unit="img", disable=not progress
    ):
        png = render_png(sample.scene, cfg.image_size, cfg.background_noise)
        (root / "images" / f"{sample_id}.png").write_bytes(png)
        hashes.add(hashlib.sha256(png).hexdigest())
    return hashes


def _write_benchmarks(
    root: Path, sampler: WorldSampler, rule: LongTailRule, image_hashes: set[str], progress: bool
) -> dict[str, list[BenchmarkItem]]:
    total = len(SKILLS) * sampler.cfg.benchmark_items_per_skill
    benchmarks = {}
    with tqdm(total=total, desc="toyworld benchmarks", unit="item", disable=not progress) as bar:
        for skill in SKILLS:
            items = make_benchmark(
                skill, sampler, rule, image_hashes, on_item=lambda: bar.update(1)
            )
            write_benchmark_parquet(
                root / "benchmarks" / f"{skill}.parquet", [item.row() for item in items]
            )
            benchmarks[skill] = items
    return benchmarks


def _summary(
    cfg: ToyWorldConfig,
    samples: list[PoolSample],
    counts: dict[str, Counter],
    benchmarks: dict[str, list[BenchmarkItem]],
    leaks: list[Leak],
) -> dict[str, Any]:
    q = cfg.long_tail_q()
    turns = Counter(len(s.turns) for s in samples)
    skills = Counter(skill for s in samples for skill in s.skills)
    kinds = Counter(s.duplicate_kind for s in samples if s.duplicate_kind)
    return {
        "generator": GENERATOR,
        "world_id": world_id(cfg),
        "code_sha256": code_sha256(),
        "config": config_for_record(cfg),
        "pool": {
            "samples": len(samples),
            "with_image": sum(s.scene is not None for s in samples),
            "text_only": sum(s.scene is None for s in samples),
            "near_duplicates": kinds["near"],
            "template_duplicates": kinds["template"],
            "turns": {str(n): turns[n] for n in sorted(turns)},
            "skill_turns": {
                skill: skills[skill] for skill in sorted(skills, key=lambda k: -skills[k])
            },
        },
        "longtail": {
            p: {
                k: v
                for k, v in summarise(counts[p], q[p]).items()
                if k not in ("top_head", "sample_tail")
            }
            for p in PERSPECTIVES
        },
        "benchmarks": {skill: _benchmark_summary(items) for skill, items in benchmarks.items()},
        **({"leaks": dict(Counter(leak.row["kind"] for leak in leaks))} if leaks else {}),
    }


def _benchmark_summary(items: list[BenchmarkItem]) -> dict[str, Any]:
    tail = sum(item.longtail == "tail" for item in items)
    return {
        "items": len(items),
        "head": len(items) - tail,
        "tail": tail,
        "tail_fraction": round(tail / len(items), 4),
        "concepts": len({concept for item in items for concept in item.entities["object"]}),
    }


def _file_list(root: Path) -> list[dict[str, Any]]:
    return [
        {
            "path": path.relative_to(root).as_posix(),
            "bytes": path.stat().st_size,
            "sha256": sha256_file(path),
        }
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != "world.json"
    ]


def _is_up_to_date(out_dir: Path, cfg: ToyWorldConfig) -> bool:
    try:
        world = json.loads((out_dir / "world.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if world.get("world_id") != world_id(cfg):
        return False
    return all(
        (out_dir / entry["path"]).is_file()
        and (out_dir / entry["path"]).stat().st_size == entry["bytes"]
        for entry in world.get("files", [])
    )


def _summary_paragraph(
    out_dir: Path, summary: dict[str, Any], pool_seconds: float, seconds: float
) -> str:
    pool = summary["pool"]
    tails = summary["longtail"]
    perspectives = "; ".join(
        f"{p} tau {s['tau']} ({s['head']} head of {s['entities']} entities)"
        for p, s in tails.items()
    )
    bench = summary["benchmarks"]
    fractions = ", ".join(f"{skill} {b['tail_fraction']:.0%}" for skill, b in bench.items())
    items = sum(b["items"] for b in bench.values())
    return (
        f"ToyWorld {summary['world_id'][:12]} written to {out_dir} in {seconds:.1f} s "
        f"(pool {pool_seconds:.1f} s): {pool['samples']} samples, {pool['with_image']} with an "
        f"image and {pool['text_only']} text-only, turns per sample {pool['turns']}, with "
        f"{pool['near_duplicates']} near- and {pool['template_duplicates']} template duplicates "
        f"of head samples. Long tail: {perspectives}. Benchmarks: {items} held-out items in "
        f"{len(bench)} skills, tail share {fractions}. Inspect it with `vlmdata toyworld describe "
        f"world_dir={out_dir}`."
    )
