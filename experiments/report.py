"""`vlmdata report <sweep dir>`: report.md + PNGs from a sweep's finished runs.

Per method and budget, over seeds: overall / head / tail scores (mean over tasks), relative
performance vs the full-data reference run of the same seed (COINCIDE's measure) and mean
relative gain (ADR's), each as mean ± std with min..max; the blind control's score (every image
grey; sweeps with blind_controls) beside the overall one; a per-task table (mean over seeds ±
the binomial SE of one evaluation, and the blind score); subset composition; rank-frequency
curves before/after curation when the ADR analysis module is present.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from configs.errors import InputNotFoundError
from curation.data.fileio import atomic_write_json, atomic_write_text
from evaluation.aggregate import PARTS, load_scores, mean_relative_gain, relative_performance
from experiments import plots
from experiments.composition import composition_summary, subset_composition
from experiments.plan import BLIND_JOB

REPORT_DIR = "report"
BLIND_NOTE = (
    "blind: the same checkpoints scored with every image replaced by a grey one (mean over "
    "tasks): what the questions alone give away."
)
TASK_NOTE = (
    "± is the binomial standard error of one evaluation, sqrt(p (1 - p) / n): the "
    "benchmark's sampling noise (is it large enough?), not the spread over seeds; "
    "no ± where the score is no mean of 0..1 items."
)


def load_runs(sweep_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    plan_path = sweep_dir / "plan.json"
    if not plan_path.is_file():
        raise InputNotFoundError(f"{sweep_dir}: not a sweep directory (no plan.json)")
    plan = json.loads(plan_path.read_text(encoding="utf-8"))
    runs = []
    for run in plan["runs"]:
        runs.append(
            {
                **run,
                "scores": _scores(run["dirs"]["eval"]),
                "blind": _scores(run["dirs"].get(BLIND_JOB)),  # None: no blind control (yet)
            }
        )
    return plan, runs


def _scores(eval_dir: str | None) -> dict[str, Any] | None:
    path = Path(eval_dir) / "scores.json" if eval_dir else None
    return load_scores(path) if path is not None and path.is_file() else None


def summarise(plan: Mapping[str, Any], runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per (method, budget) with seed statistics of every headline number."""
    reference_method = plan["sweep"].get("reference", "")
    references = {
        r["seed"]: r["scores"]
        for r in runs
        if r["method"] == reference_method and r["scores"] is not None
    }
    groups: dict[tuple[str, Any], list[Mapping[str, Any]]] = defaultdict(list)
    for run in runs:
        if run["scores"] is not None:
            groups[(run["method"], run["budget"])].append(run)
    rows = []
    for (method, budget), members in groups.items():
        values: dict[str, list[float]] = defaultdict(list)
        for run in members:
            scores = run["scores"]
            for part in PARTS:
                mean = _mean_over_tasks(scores, part)
                if mean is not None:
                    values["overall" if part == "score" else part].append(mean)
            blind = _mean_over_tasks(run["blind"], "score") if run.get("blind") else None
            if blind is not None:
                values["blind"].append(blind)
            reference = references.get(run["seed"])
            if reference is None and references:
                reference = next(iter(references.values()))
            if reference is not None:
                for part, name in (
                    ("score", "relative"),
                    ("head", "relative_head"),
                    ("tail", "relative_tail"),
                ):
                    rp = relative_performance(scores, reference, part).value
                    if rp is not None:
                        values[name].append(rp)
                mrg = mean_relative_gain(scores, reference).value
                if mrg is not None:
                    values["mrg_pct"].append(100 * mrg)
        size = _subset_size(members[0])
        rows.append(
            {
                "name": method if budget is None else f"{method} @{budget:g}",
                "method": method,
                "budget": budget,
                "seeds": sorted(r["seed"] for r in members),
                "size": size,
                **{k: _stats(v) for k, v in values.items()},
                "tasks": _per_task(members),
                "tasks_se": _per_task_se(members),
                "tasks_blind": _per_task(members, "blind"),
            }
        )
    rows.sort(key=lambda r: (r["method"] != reference_method, r["method"], r["budget"] or 0))
    return rows


def comparison_table(rows: Sequence[Mapping[str, Any]], ranges: bool = True) -> str:
    """The headline table; ranges=False leaves out [min..max] (the console's narrower one).
    A "blind" column (the blind controls' overall score) follows "overall" when a row has one."""
    blind = ["blind"] if any("blind" in r for r in rows) else []
    header = [
        "method",
        "size",
        "seeds",
        "overall",
        *blind,
        "head",
        "tail",
        "rel. perf. %",
        "rel. head %",
        "rel. tail %",
        "MRG %",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [r["name"], str(r["size"] or "-"), str(len(r["seeds"]))]
        cells += [
            _pm(r.get(k), ranges)
            for k in (
                "overall",
                *blind,
                "head",
                "tail",
                "relative",
                "relative_head",
                "relative_tail",
                "mrg_pct",
            )
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def task_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Per task: the mean over seeds ± the binomial SE of one evaluation (TASK_NOTE, printed
    under the table); with blind controls, each task's column is followed by its blind score."""
    tasks: list[str] = []
    for r in rows:
        tasks += [t for t in r["tasks"] if t not in tasks]
    blind = any(r.get("tasks_blind") for r in rows)
    header = [h for t in tasks for h in ([t, "blind"] if blind else [t])]
    lines = ["| method | " + " | ".join(header) + " |", "|" + "---|" * (len(header) + 1)]
    for r in rows:
        cells = [r["name"]]
        for t in tasks:
            cells.append(_with_se(r["tasks"].get(t), r.get("tasks_se", {}).get(t)))
            if blind:
                cells.append(_mean(r.get("tasks_blind", {}).get(t)))
        lines.append("| " + " | ".join(cells) + " |")
    if any(r.get("tasks_se") for r in rows):
        lines += ["", TASK_NOTE]
    return "\n".join(lines) + "\n"


def write_report(sweep_dir: str | Path) -> Path:
    sweep_dir = Path(sweep_dir)
    plan, runs = load_runs(sweep_dir)
    rows = summarise(plan, runs)
    out = sweep_dir / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    figures = {}
    if any(r["budget"] is not None and "relative" in r for r in rows):
        plots.save(
            plots.budget_curve_figure([r for r in rows if "relative" in r]),
            out / "relative_vs_budget.png",
        )
        figures["Relative performance vs budget"] = "relative_vs_budget.png"
    if any("head" in r and "tail" in r for r in rows):
        plots.save(
            plots.head_tail_figure([r for r in rows if "head" in r and "tail" in r]),
            out / "head_tail.png",
        )
        figures["Head vs tail"] = "head_tail.png"
    compositions = _compositions(runs)
    figure = plots.composition_figure(compositions, "subset composition")
    if figure is not None:
        plots.save(figure, out / "composition.png")
        figures["Subset composition"] = "composition.png"
    figures.update(_rank_frequency(runs, out))

    missing = [r["label"] for r in runs if r["scores"] is None]
    missing_blind = [
        f"{r['label']} (blind)" for r in runs if BLIND_JOB in r["dirs"] and r["blind"] is None
    ]
    text = [
        f"# Sweep report: {plan['sweep'].get('name', sweep_dir.name)}",
        "",
        f"{len(runs) - len(missing)} of {len(runs)} runs scored; suite "
        f"`{_suite(runs)}`; relative measures vs `{plan['sweep'].get('reference') or '-'}` "
        "(same seed). Values are mean ± std over seeds [min..max].",
        "",
        "## Comparison",
        "",
        comparison_table(rows),
        *([BLIND_NOTE, ""] if any("blind" in r for r in rows) else []),
        "## Per task (overall score, mean over seeds)",
        "",
        task_table(rows),
    ]
    composition_rows = {label: composition_summary(c) for label, c in compositions.items()}
    if composition_rows:
        text += [
            "## Subset composition",
            "",
            "| subset | " + " | ".join(next(iter(composition_rows.values()))) + " |",
            "|" + "---|" * (1 + len(next(iter(composition_rows.values())))),
        ]
        text += [
            "| " + label + " | " + " | ".join(str(v) for v in row.values()) + " |"
            for label, row in composition_rows.items()
        ]
        text.append("")
    for title, name in figures.items():
        text += [f"## {title}", "", f"![{title}]({name})", ""]
    if missing or missing_blind:
        unfinished = [*missing, *missing_blind]
        text += ["## Unfinished runs", "", *[f"- {label}" for label in unfinished], ""]
    atomic_write_text(out / "report.md", "\n".join(text))
    atomic_write_json(out / "summary.json", {"rows": rows})
    return out / "report.md"


def _compositions(runs: Sequence[Mapping[str, Any]]) -> dict[str, dict]:
    """One subset per method/budget (the first seed) is enough to show what each keeps."""
    seen: dict[str, dict] = {}
    for run in runs:
        name = run["method"] if run["budget"] is None else f"{run['method']} @{run['budget']:g}"
        subset = Path(run["dirs"]["curate"])
        if name in seen or not (subset / "subset.json").is_file():
            continue
        world = Path(run["dirs"]["pool"]) if "pool" in run["dirs"] else None
        seen[name] = subset_composition(subset, world)
    return seen


def _rank_frequency(runs: Sequence[Mapping[str, Any]], out: Path) -> dict[str, str]:
    try:
        from curation.methods.adr.longtail_report import rank_frequency_before_after
    except ImportError:
        return {}
    figures = {}
    done = set()
    for run in runs:
        if run["method"] in done or "pool" not in run["dirs"]:
            continue
        done.add(run["method"])
        name = f"rank_frequency_{run['method']}.png"
        if rank_frequency_before_after(
            Path(run["dirs"]["pool"]), Path(run["dirs"]["curate"]), out / name
        ):
            figures[f"Rank-frequency before/after: {run['method']}"] = name
    return figures


def _mean_over_tasks(scores: Mapping[str, Any], part: str) -> float | None:
    values = [
        e[part]
        for e in scores["tasks"].values()
        if e.get("status") == "scored" and isinstance(e.get(part), (int, float))
    ]
    return sum(values) / len(values) if values else None


def _per_task(
    members: Sequence[Mapping[str, Any]], which: str = "scores", field: str = "score"
) -> dict[str, dict[str, float]]:
    """task -> seed statistics of `field` in each run's `which` scores (the real or the blind)."""
    values: dict[str, list[float]] = defaultdict(list)
    for run in members:
        if not run.get(which):
            continue
        for task, entry in run[which]["tasks"].items():
            if entry.get("status") == "scored" and isinstance(entry.get(field), (int, float)):
                values[task].append(float(entry[field]))
    return {task: _stats(v) for task, v in values.items()}


def _per_task_se(members: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """task -> the binomial SE of one evaluation (the mean over seeds: the same n, close p)."""
    return {task: s["mean"] for task, s in _per_task(members, field="se").items()}


def _subset_size(run: Mapping[str, Any]) -> int | None:
    manifest = Path(run["dirs"]["curate"]) / "manifest.json"
    if not manifest.is_file():
        return None
    return json.loads(manifest.read_text(encoding="utf-8"))["counts"]["selected"]


def _suite(runs: Sequence[Mapping[str, Any]]) -> str:
    return next((r["scores"]["suite"] for r in runs if r["scores"]), "-")


def _stats(values: Sequence[float]) -> dict[str, float]:
    return {
        "mean": statistics.fmean(values),
        "std": statistics.pstdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def ranked(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The reference first, then per budget by mean relative performance, best first."""

    def key(row: Mapping[str, Any]) -> tuple[bool, float, float]:
        relative = row.get("relative") or {"mean": float("-inf")}
        return row["budget"] is not None, row["budget"] or 0.0, -relative["mean"]

    return sorted(rows, key=key)


def _with_se(stats: Mapping[str, float] | None, se: float | None) -> str:
    if not stats:
        return "-"
    return f"{stats['mean']:.2f}" + ("" if se is None else f" ± {se:.2f}")


def _mean(stats: Mapping[str, float] | None) -> str:
    return "-" if not stats else f"{stats['mean']:.2f}"


def _pm(stats: Mapping[str, float] | None, ranges: bool = True) -> str:
    if not stats:
        return "-"
    if stats["n"] == 1:
        return f"{stats['mean']:.2f}"
    text = f"{stats['mean']:.2f} ± {stats['std']:.2f}"
    return text + (f" [{stats['min']:.1f}..{stats['max']:.1f}]" if ranges else "")
