"""The report's paired comparisons as text: Δ cells, the per-task Δ table, the legend, the notes
on left-out seeds and the controls section (A/A and oracle verdicts, interval half-widths).

Rows are report.summarise's; their comparisons are plain dicts (comparison_fields) so that
summary.json, the console and W&B read the same numbers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from experiments.significance import (
    AA,
    BASELINE,
    ORACLE,
    RESAMPLES,
    ArmComparisons,
    Versus,
    no_arm,
)

MARK = "*"
LEGEND = (
    f"Δ: the arm's score minus the baseline's, in points (mean over tasks; > 0: better), paired "
    f"by seed; [95% interval] of a paired bootstrap over seeds and items ({RESAMPLES} "
    "resamples, evaluation/statistics.py); P(Δ>0): the share of resamples in which the arm is "
    f"better. {MARK} marks an interval that excludes 0. The intervals are not corrected for "
    "multiple comparisons: of k arms that truly equal random, about k/20 are marked by chance."
)


def comparison_fields(compared: ArmComparisons) -> dict[str, Any]:
    """The row entries of one arm's comparisons (absent where there is none)."""
    fields: dict[str, Any] = {}
    if compared.random is not None:
        fields["vs_random"] = _versus_dict(compared.random)
    if compared.full is not None:
        fields["vs_full"] = _versus_dict(compared.full)
    if compared.relative is not None:
        fields["relative_ci"] = dataclasses.asdict(compared.relative)
    return fields


def difference(row: Mapping[str, Any], versus: str = "vs_random", part: str = "score", task=None):
    """The comparison's {delta, low, high, p_improvement, ...} for the overall part or one
    task's part, or None."""
    found = row.get(versus) or {}
    if task is None:
        return found.get("overall", {}).get(part)
    return found.get("per_task", {}).get(task, {}).get(part)


def excludes_zero(d: Mapping[str, float]) -> bool:
    return d["low"] > 0 or d["high"] < 0


def half_width(d: Mapping[str, float]) -> float:
    return (d["high"] - d["low"]) / 2


def delta_text(d: Mapping[str, float] | None) -> str:
    if d is None:
        return "-"
    text = f"{d['delta']:+.2f} [{d['low']:+.2f}, {d['high']:+.2f}]"
    return text + (f" {MARK}" if excludes_zero(d) else "")


def delta_cell(row: Mapping[str, Any], versus: str = "vs_random") -> str:
    """Δ [interval] (marked), or what stands instead: the baseline itself, "no random arm"."""
    found = row.get(versus)
    if found is None:
        is_baseline = (row["method"], row["control"]) == (BASELINE, "") and row[
            "budget"
        ] is not None
        return "baseline" if versus == "vs_random" and is_baseline else "-"
    if "overall" not in found:
        return found["note"] if found["note"] == no_arm(found["baseline"]) else "n/a"
    return delta_text(found["overall"].get("score"))


def p_cell(row: Mapping[str, Any]) -> str:
    d = difference(row)
    return "-" if d is None else f"{d['p_improvement']:.2f}"


def notes(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per comparison that left seeds out or could not be made."""
    lines = []
    for row in rows:
        for versus in ("vs_random", "vs_full"):
            found = row.get(versus)
            if found and found["note"] and found["note"] != no_arm(found["baseline"]):
                lines.append(f"- {row['name']} vs {found['baseline']}: {found['note']}")
            for task, why in (found or {}).get("skipped", {}).items():
                lines.append(f"- {row['name']} vs {found['baseline']}: task {task} left out: {why}")
    return lines


def delta_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Δ vs random per part (overall, head, tail: means over tasks) and per task."""
    compared = [r for r in rows if difference(r) is not None]
    if not compared:
        return ""
    parts = [p for p in ("score", "head", "tail") if any(difference(r, part=p) for r in compared)]
    tasks: list[str] = []
    for r in compared:
        tasks += [t for t in r["vs_random"]["per_task"] if t not in tasks]
    header = ["method", *("overall" if p == "score" else p for p in parts), *tasks]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in compared:
        cells = [r["name"], *(delta_text(difference(r, part=p)) for p in parts)]
        cells += [delta_text(difference(r, task=t)) for t in tasks]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def aa_failures(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The bold warning for every A/A arm whose interval excludes 0."""
    return [
        f"**The comparison is not trustworthy: the A/A arm {r['name']} (a second random draw) "
        f"differs from random by {delta_text(difference(r))}, an interval that excludes 0. "
        "Two random draws should not differ; differences of this size between methods are no "
        "evidence.**"
        for r in rows
        if r["control"] == AA and difference(r) is not None and excludes_zero(difference(r))
    ]


def controls_section(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Verdict lines of the A/A and oracle arms and the interval half-widths."""
    lines = []
    aa = [r for r in rows if r["control"] == AA]
    oracle = [r for r in rows if r["control"] == ORACLE]
    failures = aa_failures(rows)
    lines += failures
    for r in aa:
        d = difference(r)
        if d is None:
            lines.append(f"- {r['name']}: no comparison with random ({_why(r)}).")
        elif not excludes_zero(d):
            lines.append(
                f"- {r['name']}: Δ vs random {delta_text(d)} covers 0, as two random draws should."
            )
    if not aa:
        lines.append(
            "- No A/A arm in this sweep: the false-alarm rate of the intervals is unchecked."
        )
    for r in oracle:
        d = difference(r)
        if d is None:
            lines.append(f"- {r['name']}: no comparison with random ({_why(r)}).")
            continue
        verdict = (
            "above 0: the instrument detects a gain of this size"
            if d["low"] > 0
            else "not above 0: the instrument did not detect the oracle's gain in this sweep"
        )
        lines.append(
            f"- {r['name']} (positive control, never ranked): Δ vs random "
            f"{delta_text(d)}, P(Δ>0) {d['p_improvement']:.2f}; {verdict}."
        )
    if not oracle:
        lines.append("- No oracle arm in this sweep: the instrument's power is unchecked.")
    widths = [(r["name"], half_width(difference(r))) for r in rows if difference(r) is not None]
    if widths:
        shown = ", ".join(f"{name} {w:.2f}" for name, w in widths)
        largest = max(w for _, w in widths)
        lines += [
            "",
            "Half-width of the 95% interval of Δ vs random, overall score, in points: "
            f"{shown}; largest {largest:.2f}.",
        ]
    return lines


def _why(row: Mapping[str, Any]) -> str:
    return (row.get("vs_random") or {}).get("note") or "no random arm"


def _versus_dict(versus: Versus) -> dict[str, Any]:
    found: dict[str, Any] = {
        "baseline": versus.baseline,
        "seeds": list(versus.seeds),
        "note": versus.note,
    }
    c = versus.comparison
    if c is not None:
        found.update(
            overall={part: dataclasses.asdict(d) for part, d in c.overall.items()},
            per_task={
                task: {part: dataclasses.asdict(d) for part, d in parts.items()}
                for task, parts in c.per_task.items()
            },
            skipped=dict(c.skipped),
            resamples=c.resamples,
            confidence=c.confidence,
            bootstrap_seed=c.seed,
        )
    return found
