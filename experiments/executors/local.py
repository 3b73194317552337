"""Run a job graph on this machine, stage by stage; finished stages are skipped.

With workers > 1 the independent feature-shard, train and eval jobs of a stage run in
parallel processes, each with its share of the CPU threads (the tiny ToyWorld models are
fastest on one thread each) and its output in <stage dir>/stage.log. Curation stays
sequential: its jobs share per-pool caches (reference model, feature pass, clusterings) that
the first job builds and the others reuse.

A training job with trainer.devices > 1 runs as that many processes started here, ranks of
one process group (Lightning's LightningEnvironment reads LOCAL_RANK, MASTER_ADDR/PORT), as a
SLURM job's tasks do (executors.processes); trainer.num_nodes > 1 needs executor=slurm.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from configs.compose import ConfigError
from configs.errors import JobFailedError
from experiments.executors.processes import job_layout, run_beside_rank0
from experiments.plan import Job
from experiments.stages import execute, is_done, read_marker
from experiments.sweep import JobGraph

PARALLEL_STAGES = ("features", "train", "eval")


def run_local(graph: JobGraph, workers: int = 1, log=print) -> dict[str, dict]:
    """Execute every job; return the completion markers by job key."""
    for job in graph.jobs.values():
        if job_layout(job).nodes > 1:
            raise ConfigError(
                f"the {job.stage} job of {job.runs_shown()} asks for training.trainer.num_nodes="
                f"{job_layout(job).nodes}; executor=local runs on this machine only: use "
                "executor=slurm, or num_nodes=1"
            )
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
            markers[job.key] = execute_job(job)
    return markers


def execute_job(job: Job) -> dict:
    """`execute`, in as many processes as the job has ranks."""
    processes = job_layout(job).processes
    return execute(job) if processes == 1 else _execute_ranks(job, processes)


def _execute_ranks(job: Job, processes: int) -> dict:
    """The job's ranks in `processes` spawned processes, each with its share of the threads;
    the first to fail ends the others (they would wait for it in a collective)."""
    threads = max(1, torch_threads() // processes)
    port = _free_port()
    context = multiprocessing.get_context("spawn")
    ranks = [
        context.Process(target=_rank_main, args=(job, rank, processes, port, threads))
        for rank in range(processes)
    ]
    for process in ranks:
        process.start()
    try:
        while (failed := _failed_rank(ranks)) is None and any(p.is_alive() for p in ranks):
            time.sleep(0.2)
        if failed is not None:
            raise JobFailedError(
                f"{job.stage} {job.runs_shown()}: rank {failed} of {processes} exited with "
                f"code {ranks[failed].exitcode} (its traceback is above)"
            )
    finally:
        for process in ranks:
            if process.is_alive():
                process.kill()
            process.join()
    marker = read_marker(job)
    if marker is None:
        raise JobFailedError(f"{job.stage} {job.runs_shown()}: rank 0 ended without its marker")
    return marker


def _failed_rank(ranks: list) -> int | None:
    return next((r for r, p in enumerate(ranks) if p.exitcode not in (None, 0)), None)


def _rank_main(job: Job, rank: int, processes: int, port: int, threads: int) -> None:
    """One rank: Lightning finds LOCAL_RANK and does not start processes of its own."""
    os.environ.update(
        {
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "WORLD_SIZE": str(processes),
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "NODE_RANK": "0",
        }
    )
    _worker_init(threads)
    if rank == 0:
        execute(job)
    else:
        run_beside_rank0(job, rank)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def torch_threads() -> int:
    """The threads this process may use: what a parallel worker was given, else every CPU."""
    return int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1)


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
    """`execute_job` with the job's stdout/stderr in <out_dir>/stage.log: parallel jobs would
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
            return execute_job(job)
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
