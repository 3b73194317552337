"""Selection cost of a run: the wall seconds of the curation-side jobs its subset needed.

A run pays its curate job and its share of the jobs it shares with other runs of the sweep: the
tiny reference model and the reference feature pass are made once per pool and read by every
run of COINCIDE and the model-based baselines, so each of those runs is charged that job's
seconds divided by the number of the sweep's runs that depend on it. Seconds and device come
from each job's completion marker (experiments/stages.py), which records them whether the job
ran in this sweep or an earlier one (a cached reference is charged what it cost when made).
The world's foundation models are not a selection cost: every training starts from them.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from experiments.stages import MARKER

SELECTION_STAGES = ("reference", "features", "curate")
UNKNOWN_DEVICE = "unknown"  # a marker written before markers recorded the device


def selection_cost(plan: Mapping[str, Any], run: Mapping[str, Any]) -> dict[str, Any] | None:
    """{"seconds": total, "device": the devices the parts ran on (" + " between several),
    "parts": {job name in the run: its seconds, shared jobs divided}} for one run of a
    plan.json; None when one of its selection jobs has not finished or recorded no time."""
    jobs = {job["key"]: job for job in plan["jobs"]}
    runs_of = Counter(key for other in plan["runs"] for key in set(other["keys"].values()))
    parts: dict[str, float] = {}
    devices: list[str] = []
    for name, key in run["keys"].items():
        job = jobs.get(key)
        if job is None or job["stage"] not in SELECTION_STAGES:
            continue
        marker = _marker(Path(job["out_dir"]), key)
        seconds = None if marker is None else marker.get("seconds")
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
            return None
        parts[name] = seconds / runs_of[key]
        devices.append(str(marker.get("device") or UNKNOWN_DEVICE))
    if not parts:
        return None
    return {
        "seconds": round(sum(parts.values()), 3),
        "device": " + ".join(dict.fromkeys(devices)),
        "parts": {name: round(seconds, 3) for name, seconds in parts.items()},
    }


def _marker(out_dir: Path, key: str) -> dict[str, Any] | None:
    """The job's completion marker, if it is this job's (a re-planned job has another key)."""
    try:
        marker = json.loads((out_dir / MARKER).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return marker if isinstance(marker, dict) and marker.get("key") == key else None
