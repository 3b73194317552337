"""The tiny sweep on a REAL single-node SLURM cluster (Debian's slurmctld/slurmd/munge).

slurm/test_cluster.sh installs the packages when they are missing (as root) and starts the
daemons; the test submits the sweep with executor=slurm and checks that jobs went through the
queue, that every stage started only after the stage it reads from ended, and that the
scores equal the local executor's. COINCIDE joins the grid with its reference pass split into
two feature shards: a reference job, then a two-task array, then curation.
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def _watch_queue(env: dict, seen: set, stop: threading.Event) -> None:
    while not stop.is_set():
        out = subprocess.run(
            ["squeue", "-h", "-o", "%i %j %T"], env=env, capture_output=True, text=True
        ).stdout
        seen.update(tuple(line.split()[:2]) for line in out.splitlines() if line.strip())
        time.sleep(0.3)


def test_slurm_sweep_matches_local(cluster, tmp_path, sweep_tools, finished_sweep):
    _, local_store, _ = finished_sweep

    store = tmp_path / "store"
    env = {**sweep_tools.env(tmp_path), "SLURM_CONF": str(cluster)}
    seen: set = set()
    stop = threading.Event()
    watcher = threading.Thread(target=_watch_queue, args=(env, seen, stop), daemon=True)
    watcher.start()
    try:
        proc = subprocess.run(
            sweep_tools.command(
                tmp_path,
                store,
                "executor=slurm",
                "cluster=local_test",
                "methods=[random,coincide_toyworld]",
                overrides=("feature_shards=2",),
            ),
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
    finally:
        stop.set()
        watcher.join()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    names = {name for _, name in seen}
    stages = ("reference", "features", "curate", "train", "eval")
    assert {f"vlmdata-{stage}" for stage in stages} <= names, seen
    feature_tasks = {job for job, name in seen if name == "vlmdata-features"}
    assert len({task.split("_")[0] for task in feature_tasks}) == 1, "shards are one array"
    markers = sweep_tools.markers(store)
    shards = sorted(m["summary"]["shard"] for m in markers.values() if m["stage"] == "features")
    assert shards == [0, 1]
    assert all(m["slurm_job_id"] for m in markers.values())
    for marker in markers.values():
        for dep in _deps(tmp_path, marker["key"]):
            assert markers[dep]["finished"] <= marker["started"], (
                f"{marker['stage']} {marker['label']} started before its input finished"
            )
    scores, local = sweep_tools.scores(store), sweep_tools.scores(local_store)
    assert set(scores) == {*local, "coincide_toyworld b0.2 s0"}
    assert {label: scores[label] for label in local} == local


def _deps(work: Path, key: str) -> list[str]:
    import json

    plan = json.loads((work / "sweeps" / "tiny" / "plan.json").read_text())
    return next(job["deps"] for job in plan["jobs"] if job["key"] == key)
