"""One task's lmms-eval results -> its entry in scores.json (primary metric, head/tail).

scores.json (one per run directory):
{
  "schema": 1,
  "suite": "toyworld", "checkpoint": "/abs/dir", "checkpoint_sha256": "...",
  "limit": null, "judge": "none", "data_root": "/abs/world" | "",
  "tasks": {
    "<suite task name>": {
      "status": "scored" | "unscored",
      "metric": "score", "higher_is_better": true, "scale": 100.0,
      "score": 81.7,          # lmms-eval's value x scale (null when unscored)
      "raw": 0.817,           # lmms-eval's value as reported
      "head": 90.0, "tail": 60.0,   # only for tasks that report <metric>_head/_tail
      "n": 60, "seconds": 3.2,
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
from typing import Any

from evaluation.errors import EvalError
from evaluation.materialize import RunTask

SCHEMA_VERSION = 1
PARTS = ("head", "tail")


def task_entry(
    task: RunTask,
    results: dict[str, Any],
    n: int,
    seconds: float,
    results_file: str,
    samples_file: str,
) -> dict[str, Any]:
    spec = task.spec
    entry: dict[str, Any] = {
        "status": "unscored" if task.predict_only else "scored",
        "metric": spec.metric,
        "higher_is_better": spec.higher_is_better,
        "scale": spec.scale,
        "score": None,
        "raw": None,
        "n": n,
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
    for part in PARTS:
        part_key = f"{spec.metric}_{part},none"
        if part_key in reported:
            entry[part] = _scaled(_number(reported[part_key]), spec.scale)
    return entry


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EvalError(f"expected a number in lmms-eval's results, got {value!r}")
    return None if math.isnan(value) or math.isinf(value) else float(value)


def _scaled(value: float | None, scale: float) -> float | None:
    return None if value is None else value * scale
