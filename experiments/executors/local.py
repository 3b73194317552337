"""Run a job graph on this machine, stage by stage; finished stages are skipped.

With workers > 1 the independent train and eval jobs of a stage run in parallel processes,
each with its share of the CPU threads (the tiny ToyWorld models are fastest on one thread
each). Curation stays sequential: its jobs share per-pool caches (reference model, feature
pass, clusterings) that the first job builds and the others reuse.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import time
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait

from experiments.plan import Job
from experiments.stages import execute, is_done, read_marker
from experiments.sweep import JobGraph

PARALLEL_STAGES = ("train", "eval")


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
        log(f"[{position}/{total} {elapsed:6.0f}s] {job.stage:<6} {job.label}  ({state})")

    for stage, jobs in graph.by_stage():
        todo = []
        for job in jobs:
            if is_done(job):
                announce(job, "done, skipped")
                markers[job.key] = read_marker(job) or {}
            else:
                todo.append(job)
        if workers > 1 and len(todo) > 1 and stage in PARALLEL_STAGES:
            for job in todo:
                announce(job, f"running, {workers} at a time")
            markers.update(_parallel(todo, workers))
            continue
        for job in todo:
            announce(job, "running")
            markers[job.key] = execute(job)
    return markers


def _parallel(jobs: list[Job], workers: int) -> dict[str, dict]:
    threads = max(1, (os.cpu_count() or 1) // workers)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_worker_init, initargs=(threads,)
    ) as pool:
        futures = {pool.submit(execute, job): job for job in jobs}
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
        for future in done:
            future.result()  # re-raises the first failure, with its own message
        wait(pending)
        return {futures[f].key: f.result() for f in futures if not f.cancelled()}


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
