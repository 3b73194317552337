"""describe_world: the pool's long tail per ADR perspective, as tables and log-log
rank-frequency plots (curation/methods/adr/README.md), plus the head/tail mix of each benchmark."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from configs.errors import InputNotFoundError
from curation.data.longtail import DEFAULT_Q_BY_PERSPECTIVE, sorted_by_count
from toyworld.entities import PERSPECTIVES
from toyworld.stats import count_entities, summarise


def describe_world(world_dir: str | Path, out_dir: str | Path | None = None) -> dict[str, Any]:
    """Print and return per-perspective tables; write one PNG per perspective to out_dir
    (default: <world_dir>/describe)."""
    world_dir = Path(world_dir)
    entities_path = world_dir / "entities.jsonl"
    if not entities_path.is_file():
        raise InputNotFoundError(
            f"{world_dir} is not a ToyWorld: no entities.jsonl (run `vlmdata toyworld make`)"
        )
    out_dir = Path(out_dir) if out_dir is not None else world_dir / "describe"
    q = _q_of(world_dir)

    with open(entities_path, encoding="utf-8") as handle:
        counts = count_entities(json.loads(line) for line in handle if line.strip())
    perspectives = {}
    for perspective in PERSPECTIVES:
        summary = summarise(counts[perspective], q[perspective])
        summary["plot"] = str(_plot(counts[perspective], summary, perspective, out_dir))
        summary["counts"] = dict(sorted_by_count(counts[perspective]))
        perspectives[perspective] = summary
    result = {
        "world_dir": str(world_dir),
        "perspectives": perspectives,
        "benchmarks": _benchmarks(world_dir),
    }
    print(format_description(result))
    return result


def _q_of(world_dir: Path) -> dict[str, float]:
    """The world's own q per perspective when world.json records them."""
    q = dict(DEFAULT_Q_BY_PERSPECTIVE)
    try:
        config = json.loads((world_dir / "world.json").read_text(encoding="utf-8"))["config"]
    except (OSError, ValueError, KeyError):
        return q
    for perspective in PERSPECTIVES:
        q[perspective] = float(config.get(f"q_{perspective}", q[perspective]))
    return q


def _benchmarks(world_dir: Path) -> dict[str, dict[str, Any]]:
    result = {}
    for path in sorted((world_dir / "benchmarks").glob("*.parquet")):
        labels = pq.read_table(path, columns=["longtail"]).column("longtail").to_pylist()
        tail = labels.count("tail")
        result[path.stem] = {
            "items": len(labels),
            "head": len(labels) - tail,
            "tail": tail,
            "tail_fraction": round(tail / len(labels), 4) if labels else 0.0,
        }
    return result


def _plot(
    counts: Mapping[str, int], summary: Mapping[str, Any], perspective: str, out_dir: Path
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from curation.data.fileio import atomic_open

    frequencies = [count for _, count in sorted_by_count(counts) if count > 0]
    figure, axes = plt.subplots(figsize=(5, 3.6), dpi=120)
    axes.loglog(range(1, len(frequencies) + 1), frequencies, marker=".", linewidth=1)
    axes.axhline(
        summary["tau"],
        color="tab:red",
        linestyle="--",
        linewidth=1,
        label=f"tau = {summary['tau']}",
    )
    axes.axvline(
        summary["head"],
        color="tab:gray",
        linestyle=":",
        linewidth=1,
        label=f"head = {summary['head']}",
    )
    axes.set_xlabel("rank")
    axes.set_ylabel("mentions" if perspective == "token" else "samples")
    axes.set_title(f"{perspective}: {summary['entities']} entities, q = {summary['q']}")
    axes.legend(frameon=False)
    figure.tight_layout()
    path = out_dir / f"rank_frequency_{perspective}.png"
    with atomic_open(path, "wb") as handle:
        figure.savefig(handle, format="png")
    plt.close(figure)
    return path


def format_description(result: Mapping[str, Any]) -> str:
    rows = [
        (
            "perspective",
            "entities",
            "mentions",
            "tau",
            "head",
            "tail",
            "head mass",
            "top head",
            "sample tail",
        )
    ]
    for perspective, s in result["perspectives"].items():
        rows.append(
            (
                perspective,
                str(s["entities"]),
                str(s["mentions"]),
                str(s["tau"]),
                str(s["head"]),
                str(s["tail"]),
                f"{s['head_mass_share']:.1%}",
                " | ".join(s["top_head"]),
                " | ".join(s["sample_tail"]),
            )
        )
    lines = [
        f"ToyWorld {result['world_dir']}: long tail of the pool (ADR rule)",
        *_aligned(rows),
        "",
    ]
    bench = [("benchmark", "items", "head", "tail", "tail share")]
    for skill, b in result["benchmarks"].items():
        bench.append(
            (skill, str(b["items"]), str(b["head"]), str(b["tail"]), f"{b['tail_fraction']:.0%}")
        )
    lines += [*_aligned(bench), "", "rank-frequency plots:"]
    lines += [f"  {s['plot']}" for s in result["perspectives"].values()]
    return "\n".join(lines)


def _aligned(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
