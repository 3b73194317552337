"""Selection cost of a run: the wall seconds of the curation-side jobs its subset needed.

A run pays its selection and its share of the jobs it shares with other runs of the sweep: the
tiny reference model and the reference feature pass are made once per pool and read by every
run of COINCIDE and the model-based baselines, so each of those runs is charged that job's
seconds divided by the number of the sweep's runs that depend on it. The selection's seconds
and device are the subset manifest's (timings_s.total: reading the pool and selecting, without
the process's imports or the stage's W&B logging, so that the first job of a process pays no
more than the others); the shared jobs' are their completion markers' (experiments/stages.py:
the job's wall time). Both were recorded when the job ran, in this sweep or an earlier one (a
cached reference is charged what it cost when made). The world's foundation models are not a
selection cost: every training starts from them.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from curation.data.subset import MANIFEST
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
        out_dir = Path(job["out_dir"])
        marker = _read(out_dir / MARKER)
        if marker is None or marker.get("key") != key:  # unfinished, or another job's folder
            return None
        timed = _selection_timing(out_dir) if job["stage"] == "curate" else marker
        seconds = None if timed is None else timed.get("seconds")
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
            return None
        parts[name] = seconds / runs_of[key]
        devices.append(str(timed.get("device") or UNKNOWN_DEVICE))
    if not parts:
        return None
    return {
        "seconds": round(sum(parts.values()), 3),
        "device": " + ".join(dict.fromkeys(devices)),
        "parts": {name: round(seconds, 3) for name, seconds in parts.items()},
    }


def _selection_timing(subset_dir: Path) -> dict[str, Any] | None:
    """{"seconds", "device"} of a finished subset's selection, from its manifest (a subset
    written before `total` existed: reading the pool plus selecting, the same span)."""
    manifest = _read(subset_dir / MANIFEST)
    timings = manifest.get("timings_s") if manifest is not None else None
    if not isinstance(timings, dict):
        return None
    seconds = timings.get("total")
    if seconds is None and {"load_pool", "select"} <= timings.keys():
        seconds = timings["load_pool"] + timings["select"]
    return {"seconds": seconds, "device": manifest.get("device")}


def _read(path: Path) -> dict[str, Any] | None:
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return found if isinstance(found, dict) else None
