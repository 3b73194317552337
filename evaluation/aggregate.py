"""Scores of several runs -> the papers' summary numbers and markdown tables.

- relative performance (COINCIDE): mean over tasks of score / reference x 100
  (reference / score x 100 where lower is better); 100 = as good as the reference run,
  typically the model trained on the full pool;
- mean relative gain (ADR): mean over tasks of (score - baseline) / baseline
  ((baseline - score) / baseline where lower is better), a fraction: 0.02 = +2 %.

Both use the tasks scored in both runs; a task whose reference value is 0 or missing (or
unscored in either run) is skipped and listed. `part` picks the overall score or the head or
tail score (ToyWorld), so the measures can be read per long-tail segment.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from configs.errors import InputNotFoundError
from evaluation.errors import EvalError

Scores = Mapping[str, Any]  # a scores.json document
PARTS = ("score", "head", "tail")
SE_NOTE = (
    "± = binomial standard error of one evaluation, sqrt(p (1 - p) / n) x scale: the "
    "benchmark's sampling noise, for tasks whose score is a mean of 0..1 item scores"
)


@dataclass(frozen=True)
class Relative:
    value: float | None  # None when no task could be compared
    per_task: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # task -> why


def load_scores(path: str | Path) -> dict[str, Any]:
    """A scores.json, given as the file or its run directory."""
    path = Path(path)
    if path.is_dir():
        path = path / "scores.json"
    if not path.is_file():
        raise InputNotFoundError(f"scores not found: {path}")
    try:
        scores = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EvalError(f"{path}: not a valid scores.json: {exc}") from None
    if not isinstance(scores, dict) or not isinstance(scores.get("tasks"), dict):
        raise EvalError(f"{path}: not a scores.json (no 'tasks' mapping)")
    return scores


def relative_performance(scores: Scores, reference: Scores, part: str = "score") -> Relative:
    def ratio(value: float, ref: float, higher: bool) -> float:
        return (value / ref if higher else ref / value) * 100.0

    return _relative(scores, reference, part, ratio)


def mean_relative_gain(scores: Scores, baseline: Scores, part: str = "score") -> Relative:
    def gain(value: float, ref: float, higher: bool) -> float:
        return (value - ref) / ref if higher else (ref - value) / ref

    return _relative(scores, baseline, part, gain)


def reference_summary(scores: Scores, reference: Scores, reference_path: str) -> dict[str, Any]:
    """The "reference" node of scores.json: both measures, overall and per long-tail part."""
    summary: dict[str, Any] = {"path": reference_path}
    for part in PARTS:
        rp = relative_performance(scores, reference, part)
        mrg = mean_relative_gain(scores, reference, part)
        if rp.value is None and part != "score":
            continue
        summary[part] = {
            "relative_performance": rp.value,
            "mean_relative_gain": mrg.value,
            "per_task_relative_performance": rp.per_task,
            "skipped": rp.skipped,
        }
    return summary


def run_table(scores: Scores, reference: Scores | None = None) -> str:
    """One run, one row per task (markdown); score ± its binomial SE where the task has one."""
    header = ["task", "metric", "score", "head", "tail"]
    if reference is not None:
        header += ["reference", "relative"]
    header.append("n")
    rows = []
    rp = relative_performance(scores, reference) if reference is not None else None
    for name, entry in scores["tasks"].items():
        lower = "" if entry.get("higher_is_better", True) else " (lower is better)"
        scored = entry.get("status") == "scored"
        row = [
            name,
            entry["metric"] + lower,
            _fmt_se(entry.get("score"), entry.get("se")) if scored else "unscored",
            _fmt(entry.get("head")),
            _fmt(entry.get("tail")),
        ]
        if reference is not None and rp is not None:
            ref_entry = reference["tasks"].get(name, {})
            row += [_fmt(ref_entry.get("score")), _fmt(rp.per_task.get(name))]
        row.append(str(entry["n"]) if isinstance(entry.get("n"), int) else "-")
        rows.append(row)
    lines = [_row(header), _row(["---"] * len(header)), *(_row(r) for r in rows)]
    if reference is not None:
        mrg = mean_relative_gain(scores, reference)
        lines += [
            "",
            f"relative performance: {_fmt(rp.value if rp else None)}  |  "
            f"mean relative gain: {_pct(mrg.value)}",
        ]
    if any(entry.get("se") is not None for entry in scores["tasks"].values()):
        lines += ["", SE_NOTE]
    notes = [
        f"- {name}: {entry['note']}" for name, entry in scores["tasks"].items() if entry.get("note")
    ]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines) + "\n"


def compare_table(
    runs: Mapping[str, Scores], reference: Scores | None = None, part: str = "score"
) -> str:
    """Several runs, one row each: every task's score, then both relative measures."""
    tasks: list[str] = []
    for scores in runs.values():
        tasks += [t for t in scores["tasks"] if t not in tasks]
    header = ["run", *tasks] + (["RP", "MRG"] if reference is not None else [])
    lines = [_row(header), _row(["---"] * len(header))]
    for name, scores in runs.items():
        cells = [name]
        for task in tasks:
            entry = scores["tasks"].get(task)
            scored = entry is not None and entry.get("status") == "scored"
            cells.append(_fmt(entry.get(part)) if scored else "-")
        if reference is not None:
            cells += [
                _fmt(relative_performance(scores, reference, part).value),
                _pct(mean_relative_gain(scores, reference, part).value),
            ]
        lines.append(_row(cells))
    return "\n".join(lines) + "\n"


def _relative(scores: Scores, reference: Scores, part: str, measure) -> Relative:
    if part not in PARTS:
        raise ValueError(f"part must be one of {'|'.join(PARTS)}, got {part!r}")
    per_task: dict[str, float] = {}
    skipped: dict[str, str] = {}
    for name, entry in scores["tasks"].items():
        ref = reference["tasks"].get(name)
        value, ref_value = _value(entry, part), _value(ref, part)
        if ref is None:
            skipped[name] = "not in the reference run"
        elif value is None or ref_value is None:
            skipped[name] = f"no {part} value in both runs"
        elif ref_value == 0 or (value == 0 and not entry.get("higher_is_better", True)):
            skipped[name] = "division by zero"
        else:
            per_task[name] = measure(value, ref_value, bool(entry.get("higher_is_better", True)))
    value = sum(per_task.values()) / len(per_task) if per_task else None
    return Relative(value, per_task, skipped)


def _value(entry: Mapping[str, Any] | None, part: str) -> float | None:
    if entry is None or entry.get("status") != "scored":
        return None
    value = entry.get(part)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _fmt_se(value: float | None, se: float | None) -> str:
    """score ± se (its binomial standard error), or the score alone where the SE is unknown."""
    return _fmt(value) if value is None or se is None else f"{value:.2f} ± {se:.2f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.2f}%"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"
