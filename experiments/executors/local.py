"""Run a job graph on this machine, stage by stage; finished stages are skipped.

With workers > 1 the independent feature-shard, train and eval jobs of a stage run in
parallel processes, each with its share of the CPU threads (the tiny ToyWorld models are
fastest on one thread each) and its output in <stage dir>/stage.log. Curation stays
sequential: its jobs share per-pool caches (reference model, feature pass, clusterings) that
the first job builds and the others reuse.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from experiments.plan import Job
from experiments.stages import execute, is_done, read_marker
from experiments.sweep import JobGraph

PARALLEL_STAGES = ("features", "train", "eval")


def run_local(graph: JobGraph, workers: int = 1, log=print) -> dict[str, dict]:
    """Execute every job; return the completion markers by job key."""
    total = len(graph.jobs)
    markers: dict[str, dict] = {}
    started = time.perf_counter()
    position = 0

    def announce(job: Job, state: str) -> None:
        nonlocal position
        position += 1
        elapsed = time.perf_counter() - started
        log(f"[{position}/{total} {elapsed:6.0f}s] {job.stage:<9} {job.runs_shown()}  ({state})")

    for stage, jobs in graph.by_stage():
        todo = []
        for job in jobs:
            if is_done(job):
                announce(job, "done, skipped")
                markers[job.key] = read_marker(job) or {}
            else:
                todo.append(job)
        if workers > 1 and len(todo) > 1 and stage in PARALLEL_STAGES:
            log(f"{stage}: {len(todo)} jobs, {workers} at a time")
            for job, done in _parallel(todo, workers):
                announce(job, f"finished in {done.get('seconds', 0):.0f}s")
                markers[job.key] = done
            continue
        for job in todo:
            announce(job, "running")
            markers[job.key] = execute(job)
    return markers


def _parallel(jobs: list[Job], workers: int) -> Iterator[tuple[Job, dict]]:
    """Run the jobs in `workers` processes; yield (job, marker) as each finishes."""
    threads = max(1, (os.cpu_count() or 1) // workers)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_worker_init, initargs=(threads,)
    ) as pool:
        futures = {pool.submit(_execute_logged, job): job for job in jobs}
        try:
            for future in as_completed(futures):
                job = futures[future]
                try:
                    done = future.result()
                except Exception as exc:  # re-raised with its own message, plus where to look
                    exc.add_note(f"{job.stage} {job.runs_shown()}: output in {stage_log(job)}")
                    raise
                yield job, done
        finally:
            for future in futures:
                future.cancel()


def _execute_logged(job: Job) -> dict:
    """`execute` with the job's stdout/stderr in <out_dir>/stage.log: parallel jobs would
    interleave their progress bars on the console, where the executor reports each job's end."""
    path = stage_log(job)
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "ab") as handle:
        os.dup2(handle.fileno(), 1)
        os.dup2(handle.fileno(), 2)
        try:
            return execute(job)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def stage_log(job: Job) -> Path:
    return Path(job.out_dir) / "stage.log"


def _worker_init(threads: int) -> None:
    # Die with the parent: a killed sweep must not leave workers writing behind its back.
    if hasattr(ctypes, "CDLL"):
        try:
            ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)
