"""Run a job graph here, stage by stage, in order; finished stages are skipped."""

from __future__ import annotations

import time

from experiments.stages import execute, is_done
from experiments.sweep import JobGraph


def run_local(graph: JobGraph, log=print) -> dict[str, dict]:
    """Execute every job; return the completion markers by job key."""
    ordered = [job for _, jobs in graph.by_stage() for job in jobs]
    markers: dict[str, dict] = {}
    started = time.perf_counter()
    for i, job in enumerate(ordered, start=1):
        state = "done, skipped" if is_done(job) else "running"
        elapsed = time.perf_counter() - started
        log(f"[{i}/{len(ordered)} {elapsed:6.0f}s] {job.stage:<6} {job.label}  ({state})")
        markers[job.key] = execute(job)
    return markers
