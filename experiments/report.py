"""`vlmdata report <sweep dir>`: report.md + PNGs (+ a W&B summary) from a sweep's finished runs.

It leads with Δ vs random at the same budget (and Δ vs the full-data reference): points with a
95% paired-bootstrap interval over seeds and items and P(improvement), per task and head/tail
(experiments/significance.py); the A/A and oracle controls get a section of their own and are
never ranked. Then, per method and budget, over seeds: overall / head / tail scores (mean over
tasks), relative performance vs the full-data reference run of the same seed (COINCIDE's
measure) and mean relative gain (ADR's), each as mean ± std with min..max; the blind control's
score (every image grey; sweeps with blind_controls) beside the overall one; a per-task table
(mean over seeds ± the binomial SE of one evaluation, and the blind score); the selection cost
(experiments/costs.py: seconds of the subset's selection plus its share of the shared reference
and feature jobs, and the device); subset composition; rank-frequency curves before/after
curation when the ADR analysis module is present.
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
from experiments import plots, report_deltas, report_tracking, significance
from experiments.composition import composition_summary, subset_composition
from experiments.costs import selection_cost
from experiments.plan import BLIND_JOB

REPORT_DIR = "report"
BLIND_NOTE = (
    "blind: the same checkpoints scored with every image replaced by a grey one (mean over "
    "tasks): what the questions alone give away."
)
PROTOCOLS = {
    "epochs": "the papers': the same epochs for every subset, so fewer steps for smaller ones",
    "steps": "DataComp's: the same number of optimizer steps for every subset",
}
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


def summarise(
    plan: Mapping[str, Any],
    runs: Sequence[Mapping[str, Any]],
    resamples: int = significance.RESAMPLES,
) -> list[dict[str, Any]]:
    """One row per arm (method, budget, control) with seed statistics of every headline number
    and its paired comparisons: "vs_random", "vs_full" and "relative_ci" (when there are)."""
    reference_method = plan["sweep"].get("reference", "")
    references = {
        r["seed"]: r["scores"]
        for r in runs
        if r["method"] == reference_method and r["scores"] is not None
    }
    groups: dict[significance.ArmKey, list[Mapping[str, Any]]] = defaultdict(list)
    for run in runs:
        if run["scores"] is not None:
            groups[significance.arm_key(run)].append(run)
    comparisons = significance.compare_arms(plan, runs, resamples)
    rows = []
    for (method, budget, control), members in groups.items():
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
        costs = [c for c in (selection_cost(plan, run) for run in members) if c is not None]
        if costs:
            values["selection_s"] = [c["seconds"] for c in costs]
        compared = comparisons[(method, budget, control)]
        rows.append(
            {
                "name": significance.arm_name(method, budget, control),
                "method": method,
                "budget": budget,
                "control": control,
                "seeds": sorted(r["seed"] for r in members),
                "size": size,
                **({"selection_device": _devices(costs)} if costs else {}),
                **{k: _stats(v) for k, v in values.items()},
                **report_deltas.comparison_fields(compared),
                "tasks": _per_task(members),
                "tasks_se": _per_task_se(members),
                "tasks_blind": _per_task(members, "blind"),
            }
        )
    rows.sort(
        key=lambda r: (
            r["method"] != reference_method,
            r["control"] != "",
            r["control"],
            r["method"],
            r["budget"] or 0,
        )
    )
    return rows


def comparison_table(rows: Sequence[Mapping[str, Any]], ranges: bool = True) -> str:
    """The headline table: Δ vs random [95% CI] and P(Δ>0) first (report_deltas.LEGEND), Δ vs
    the reference, then the seed statistics; ranges=False leaves out [min..max] (the console's
    narrower one). A "blind" column (the blind controls' overall score) follows "overall" when a
    row has one."""
    blind = ["blind"] if any("blind" in r for r in rows) else []
    selection = ["selection s"] if any("selection_s" in r for r in rows) else []
    header = [
        "method",
        "Δ vs random [95% CI]",
        "P(Δ>0)",
        "Δ vs full [95% CI]",
        "size",
        *selection,
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
        cells = [
            r["name"],
            report_deltas.delta_cell(r),
            report_deltas.p_cell(r),
            report_deltas.delta_cell(r, "vs_full"),
            str(r["size"] or "-"),
            *([_selection(r)] if selection else []),
            str(len(r["seeds"])),
        ]
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
    return write_rows(Path(sweep_dir), *load_runs(Path(sweep_dir)))[0]


def write_rows(
    sweep_dir: Path, plan: Mapping[str, Any], runs: Sequence[Mapping[str, Any]]
) -> tuple[Path, list[dict[str, Any]]]:
    """report.md, summary.json, the PNGs and the W&B report run; returns report.md's path and
    the rows (for the console)."""
    rows = summarise(plan, runs)
    out = sweep_dir / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    figures = _figures(rows, runs, out)
    controls = [r for r in rows if r["control"]]
    missing = [r["label"] for r in runs if r["scores"] is None]
    missing_blind = [
        f"{r['label']} (blind)" for r in runs if BLIND_JOB in r["dirs"] and r["blind"] is None
    ]
    text = [
        f"# Sweep report: {plan['sweep'].get('name', sweep_dir.name)}",
        "",
        *report_deltas.aa_failures(rows),
        *([""] if report_deltas.aa_failures(rows) else []),
        protocol_line(plan),
        *([paired_design_line(plan)] if plan.get("paired_design") else []),
        "",
        f"{len(runs) - len(missing)} of {len(runs)} runs scored; suite "
        f"`{_suite(runs)}`; Δ vs random at the same budget and vs "
        f"`{plan['sweep'].get('reference') or '-'}`, paired by seed; relative measures vs "
        f"`{plan['sweep'].get('reference') or '-'}` (same seed). Other values are mean ± std over "
        "seeds [min..max].",
        "",
        "## Comparison",
        "",
        comparison_table(ranked(rows)),
        report_deltas.LEGEND,
        "",
        *([BLIND_NOTE, ""] if any("blind" in r for r in rows) else []),
        *(["Notes:", "", *report_deltas.notes(rows), ""] if report_deltas.notes(rows) else []),
        "## Controls",
        "",
        "The A/A arm is a second random arm with other selection seeds: its interval must cover "
        "0. The oracle (ground truth) is a positive control: it shows whether the instrument "
        "detects a real gain, and how large; it is never ranked among the methods.",
        "",
        *([comparison_table(controls)] if controls else []),
        *report_deltas.controls_section(rows),
        "",
    ]
    deltas = report_deltas.delta_table(rows)
    if deltas:
        text += ["## Δ vs random per part and task (points, 95% CI)", "", deltas]
    text += ["## Per task (overall score, mean over seeds)", "", task_table(rows)]
    compositions = _compositions(runs)
    figure = plots.composition_figure(compositions, "subset composition")
    if figure is not None:
        plots.save(figure, out / "composition.png")
        figures["Subset composition"] = "composition.png"
    figures.update(_rank_frequency(runs, out))
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
    summary = {
        "protocol": protocol(plan),
        "aa_trustworthy": not report_deltas.aa_failures(rows),
        "rows": rows,
    }
    atomic_write_json(out / "summary.json", summary)
    report_tracking.log_report(out, runs, summary, figures)
    return out / "report.md", rows


def protocol(plan: Mapping[str, Any]) -> str:
    return str(plan.get("protocol") or "epochs")


def protocol_line(plan: Mapping[str, Any]) -> str:
    name = protocol(plan)
    return f"Protocol: **{name}**" + (f" ({PROTOCOLS[name]})." if name in PROTOCOLS else ".")


def paired_design_line(plan: Mapping[str, Any]) -> str:
    design = plan["paired_design"]
    if isinstance(design, Mapping):
        design = "; ".join(f"{str(k).replace('_', ' ')}: {_plain(v)}" for k, v in design.items())
    return f"Paired design: {design}."


def _plain(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_plain(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_plain(v) for v in value)
    return str(value)


def _figures(
    rows: Sequence[Mapping[str, Any]], runs: Sequence[Mapping[str, Any]], out: Path
) -> dict[str, str]:
    figures = {}
    compared = [r for r in rows if report_deltas.difference(r) is not None]
    if compared:
        plots.save(plots.delta_figure(compared), out / "delta_vs_random.png")
        figures["Δ vs random (95% CI)"] = "delta_vs_random.png"
    budgets = {r["budget"] for r in rows if r["budget"] is not None}
    if len(budgets) >= 2:
        plots.save(plots.budget_curve_figure(rows), out / "budget_curves.png")
        figures["Budget curves (95% CI bands)"] = "budget_curves.png"
    if any("head" in r and "tail" in r for r in rows):
        plots.save(
            plots.head_tail_figure([r for r in rows if "head" in r and "tail" in r]),
            out / "head_tail.png",
        )
        figures["Head vs tail"] = "head_tail.png"
    return figures


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
    """The methods, never the controls: the reference first, then per budget by Δ vs random
    (the random baseline at 0), best first; by relative performance at a budget without a
    random arm."""
    methods = [r for r in rows if not r["control"]]
    with_random = {r["budget"] for r in methods if r["method"] == significance.BASELINE}

    def key(row: Mapping[str, Any]) -> tuple[bool, float, float]:
        if row["method"] == significance.BASELINE and row["budget"] in with_random:
            measure = 0.0
        elif row["budget"] in with_random:
            measure = (report_deltas.difference(row) or {}).get("delta")
        else:
            measure = (row.get("relative") or {}).get("mean")
        return (
            row["budget"] is not None,
            row["budget"] or 0.0,
            float("inf") if measure is None else -measure,
        )

    return sorted(methods, key=key)


def _devices(costs: Sequence[Mapping[str, Any]]) -> str:
    return " + ".join(dict.fromkeys(d for c in costs for d in c["device"].split(" + ")))


def _selection(row: Mapping[str, Any]) -> str:
    """Mean over seeds of the subset's selection cost in seconds, and where it ran."""
    if "selection_s" not in row:
        return "-"
    return f"{row['selection_s']['mean']:.1f} ({row['selection_device']})"


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
