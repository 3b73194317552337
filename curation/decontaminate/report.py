"""The decontamination report: counts per task and kind, and a few examples of each."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict
from typing import Any

from curation.decontaminate.benchmarks import BenchmarkIndex
from curation.decontaminate.config import KINDS
from curation.decontaminate.scan import Match


class Tally:
    """Matched records per task and kind, with the first `examples` of each."""

    def __init__(self, examples: int) -> None:
        self.examples = examples
        self.records: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(KINDS, 0))
        self.items: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        self.shown: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        self.by_kind = dict.fromkeys(KINDS, 0)

    def add(self, record_id: str, matches: list[Match]) -> None:
        for kind in {m.kind for m in matches}:
            self.by_kind[kind] += 1
        for task, kind in {(m.task, m.kind) for m in matches}:
            self.records[task][kind] += 1
        for match in matches:
            self.items[match.task][match.kind].add(match.item)
            shown = self.shown[match.task][match.kind]
            if len(shown) < self.examples and all(e["record"] != record_id for e in shown):
                shown.append({"record": record_id, "item": match.item, **match.detail})


def summary(
    index: BenchmarkIndex, tally: Tally, records: dict[str, Any], header: dict[str, Any]
) -> dict[str, Any]:
    tasks = {}
    for task, stats in index.stats.items():
        tasks[task] = {
            **asdict(stats),
            "matched_records": dict(tally.records.get(task, dict.fromkeys(KINDS, 0))),
            "matched_items": {k: len(tally.items[task][k]) for k in KINDS},
            "examples": {k: tally.shown[task][k] for k in KINDS if tally.shown[task][k]},
        }
    return {**header, "records": records, "matched_by_kind": tally.by_kind, "tasks": tasks}


def markdown(report: dict[str, Any]) -> str:
    records = report["records"]
    lines = [
        f"# Decontamination of {report['pool']} against suite {report['suite']}",
        "",
        f"{records['read']} records read, {records['removed']} removed, {records['kept']} kept"
        + (f", {sum(records['skipped'].values())} invalid skipped" if records["skipped"] else "")
        + ". A record counts once per task and kind it matches.",
        "",
        "| task | rows | images | checked questions | exact | near | text |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for task, t in report["tasks"].items():
        matched = t["matched_records"]
        lines.append(
            f"| {task} | {t['rows']} | {t['images']} | {t['checked_questions']} of "
            f"{t['questions']} | {matched['exact']} | {matched['near']} | {matched['text']} |"
        )
    by_kind = report["matched_by_kind"]
    lines.append(
        f"| **all** | | | | **{by_kind['exact']}** | **{by_kind['near']}** | "
        f"**{by_kind['text']}** |"
    )
    if report["unchecked_tasks"]:
        lines += ["", f"Not checked (no local data): {', '.join(report['unchecked_tasks'])}."]
    unreadable = {t: s["unreadable_images"] for t, s in report["tasks"].items()}
    if any(unreadable.values()):
        shown = ", ".join(f"{t} {n}" for t, n in unreadable.items() if n)
        lines += ["", f"Benchmark images that did not decode (not checked): {shown}."]
    examples = [
        (task, kind, example)
        for task, t in report["tasks"].items()
        for kind, shown in t["examples"].items()
        for example in shown
    ]
    if examples:
        lines += ["", "## Examples", "", "| task | kind | pool record | benchmark item | detail |"]
        lines.append("|---|---|---|---|---|")
        for task, kind, example in examples:
            detail = ", ".join(
                f"{k} {v}" for k, v in example.items() if k not in ("record", "item")
            )
            record, item = example["record"], example["item"]
            lines.append(f"| {task} | {kind} | {record} | {item} | {detail} |")
    return "\n".join(lines) + "\n"
