"""One task's lmms-eval results -> its entry in scores.json (primary metric, head/tail, SE).

scores.json (one per run directory):
{
  "schema": 1,
  "suite": "toyworld", "checkpoint": "/abs/dir", "checkpoint_sha256": "...",
  "limit": null, "judge": "none", "data_root": "/abs/world" | "",
  "blind": false,             # true: a control run on grey images (evaluation.model)
  "tasks": {
    "<suite task name>": {
      "status": "scored" | "unscored",
      "metric": "score", "higher_is_better": true, "scale": 100.0,
      "score": 81.7,          # lmms-eval's value x scale (null when unscored)
      "raw": 0.817,           # lmms-eval's value as reported
      "head": 90.0, "tail": 60.0,   # only for tasks that report <metric>_head/_tail
      "n": 60,                # scored items (lmms-eval's samples of the task)
      "se": 5.0,              # binomial standard error of "score", or null (see binomial_se)
      "seconds": 3.2,
      "lmms_task": "toyworld_colour",       # the name lmms-eval ran it under
      "results": "lmms_eval/<task>/<date>_results.json",   # relative to the run directory
      "samples": "lmms_eval/<task>/<date>_samples_<lmms_task>.jsonl",
      "note": ""
    }
  },
  "reference": {...}   # with a reference run: see evaluation.aggregate.reference_summary
}
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from evaluation.errors import EvalError
from evaluation.materialize import RunTask

SCHEMA_VERSION = 1
PARTS = ("head", "tail")


def task_entry(
    task: RunTask,
    results: dict[str, Any],
    samples: Sequence[Mapping[str, Any]],
    seconds: float,
    results_file: str,
    samples_file: str,
) -> dict[str, Any]:
    """`samples`: lmms-eval's per-item records of the task (what its samples file holds)."""
    spec = task.spec
    entry: dict[str, Any] = {
        "status": "unscored" if task.predict_only else "scored",
        "metric": spec.metric,
        "higher_is_better": spec.higher_is_better,
        "scale": spec.scale,
        "score": None,
        "raw": None,
        "n": len(samples),
        "se": None,
        "seconds": round(seconds, 3),
        "lmms_task": task.lmms_name,
        "results": results_file,
        "samples": samples_file,
        "note": task.note,
    }
    if task.predict_only:
        return entry
    reported = results.get("results", {}).get(task.lmms_name, {})
    key = f"{spec.metric},none"
    if key not in reported:
        found = sorted(k.split(",")[0] for k in reported if k.endswith(",none"))
        raise EvalError(
            f"task '{spec.name}': lmms-eval reported no metric '{spec.metric}' "
            f"(it reported: {', '.join(found) or 'nothing'})"
        )
    entry["raw"] = _number(reported[key])
    entry["score"] = _scaled(entry["raw"], spec.scale)
    if spec.judge != "always":  # rule-scored items only: an LLM judge's grade is no 0/1 draw
        items = [_mean_item(sample.get(spec.metric)) for sample in samples]
        entry["se"] = _scaled(binomial_se(items, entry["raw"]), spec.scale)
    for part in PARTS:
        part_key = f"{spec.metric}_{part},none"
        if part_key in reported:
            entry[part] = _scaled(_number(reported[part_key]), spec.scale)
    return entry


def item_score(value: Any) -> float | None:
    """One sample's value of the metric as a number, or None when it is none. ToyWorld's items
    are {"score", "longtail"} (evaluation/tasks/toyworld/scoring.py:process_results)."""
    if isinstance(value, Mapping):
        value = value.get("score")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _mean_item(value: Any) -> float | None:
    """An item of a metric known to be the mean of its items: a number, or a ToyWorld item.
    Other records go to a task's own aggregation (POPE's F1 and MME's sums take
    {"score", ...} records too), which need not be their mean: None."""
    if isinstance(value, Mapping) and "longtail" not in value:
        return None
    return item_score(value)


def binomial_se(items: Sequence[float | None], raw: float | None) -> float | None:
    """sqrt(p (1 - p) / n), unscaled, for a metric that is the mean of n per-item values in
    0..1 (0/1 accuracies, VQA's 0..1 agreement, ToyWorld's caption fractions): p = `raw`, the
    reported value. None when the metric is not such a mean: an item without a number, a value
    outside 0..1, or items whose mean is not the reported value (F1, sums, category scores).
    For values strictly between 0 and 1 it bounds the standard error from above."""
    if raw is None or not items or any(v is None or not 0.0 <= v <= 1.0 for v in items):
        return None
    mean = math.fsum(items) / len(items)  # type: ignore[arg-type]
    if not math.isclose(mean, raw, rel_tol=1e-6, abs_tol=1e-9):
        return None
    p = min(max(raw, 0.0), 1.0)
    return math.sqrt(p * (1.0 - p) / len(items))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EvalError(f"expected a number in lmms-eval's results, got {value!r}")
    return None if math.isnan(value) or math.isinf(value) else float(value)


def _scaled(value: float | None, scale: float) -> float | None:
    return None if value is None else value * scale
