"""Run a job graph on SLURM through submitit.

One job array per stage (pool, curate, train, eval): every job of a stage is a task of that
stage's array, and the array starts only after the arrays it reads from finished
(`afterok`). A preempted or timed-out task is requeued (submitit's checkpoint hook) and
resumes from its stage's own state: training from its last checkpoint, evaluation from its
finished tasks, finished stages from their markers.

A training job (train, reference) runs one SLURM task per device on trainer.num_nodes nodes
(`--nodes`, `--ntasks-per-node`): srun starts every process and Lightning reads its rank from
SLURM's environment (SLURMEnvironment). Every task runs the stage; only task 0 holds the
output lock and writes the completion marker (training writes its export and summary on
rank 0 alone), and a requeue restarts every task, which all resume from the last checkpoint.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from configs.compose import ConfigError
from configs.errors import JobFailedError
from experiments.executors.processes import (
    ONE_PROCESS,
    TRAINING_STAGES,
    TaskLayout,
    job_layout,
    run_beside_rank0,
)
from experiments.plan import Job
from experiments.schemas import ClusterConfig, StageResources
from experiments.stages import execute, is_done
from experiments.sweep import JobGraph


class StageTask:
    """What a SLURM task runs; requeues itself on preemption or timeout."""

    def __init__(self, job: Job):
        self.job = job

    def __call__(self) -> dict[str, Any]:
        rank = int(os.environ.get("SLURM_PROCID", "0"))
        if rank == 0:
            return execute(self.job)
        return run_beside_rank0(self.job, rank)

    def checkpoint(self) -> Any:
        import submitit

        return submitit.helpers.DelayedSubmission(StageTask(self.job))


def task_layout(job: Job, resources: StageResources) -> TaskLayout:
    """One task per training device (trainer.devices per node, trainer.num_nodes nodes), as
    Lightning's SLURMEnvironment expects; one task for every other stage. A GPU request that
    differs from the devices would leave GPUs idle or ranks without one: ConfigError."""
    layout = job_layout(job, resources.gpus_per_node)
    if job.stage in TRAINING_STAGES and resources.gpus_per_node not in (0, layout.tasks_per_node):
        raise ConfigError(
            f"config key 'cluster.{job.stage}.gpus_per_node' is {resources.gpus_per_node} but "
            f"the {job.stage} job's training.trainer.devices is {layout.tasks_per_node}: SLURM "
            "starts one task per device, each with one GPU; set them equal"
        )
    return layout


def submit_slurm(
    graph: JobGraph, cluster: ClusterConfig, folder: str | Path, log=print
) -> dict[str, list[Any]]:
    """Submit every unfinished job; returns the submitit jobs by stage."""
    check_script_values(cluster, folder)
    todo_by_stage = [
        (stage, [(job, task_layout(job, getattr(cluster, stage))) for job in todo])
        for stage, jobs in graph.by_stage()
        if (todo := [job for job in jobs if not is_done(job)])
    ]  # every layout checked before anything is submitted
    import submitit

    submitted: dict[str, list[Any]] = {}
    array_ids: dict[str, str] = {}  # job key -> the SLURM array id that produces it
    for stage, jobs in todo_by_stage:
        by_layout: dict[TaskLayout, list[Job]] = {}
        for job, layout in jobs:
            by_layout.setdefault(layout, []).append(job)
        for layout, todo in by_layout.items():  # one array per stage, unless layouts differ
            after = sorted({array_ids[d] for job in todo for d in job.deps if d in array_ids})
            executor = submitit.SlurmExecutor(
                folder=str(Path(folder) / "%j"), max_num_timeout=cluster.max_requeues
            )
            resources = getattr(cluster, stage)
            executor.update_parameters(**_parameters(stage, resources, cluster, after, layout))
            with executor.batch():
                tasks = [executor.submit(StageTask(job)) for job in todo]
            array = tasks[0].job_id.split("_")[0]
            for job in todo:
                array_ids[job.key] = array
            submitted.setdefault(stage, []).extend(tasks)
            dep = f" after {','.join(after)}" if after else ""
            shape = _shown(layout)
            log(f"submitted {stage}: array {array} ({len(todo)} tasks{shape}){dep}")
    return submitted


def _shown(layout: TaskLayout) -> str:
    if layout == ONE_PROCESS:
        return ""
    return f", each {layout.nodes} node(s) x {layout.tasks_per_node} processes"


# polls a task may be out of the queue without its result file before it counts as ended
# without one: the file can reach a shared file system a little after the job ends
GONE_POLLS = 5
# states of a job that will not run again (a requeued job passes through PENDING instead)
ENDED = {"BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL"}
ENDED |= {"OUT_OF_MEMORY", "PREEMPTED", "TIMEOUT"}


def wait_slurm(submitted: dict[str, list[Any]], poll_s: float = 2.0, log=print) -> None:
    """Block until every task ended; raise if one failed (its stderr tail in the message) or
    left the queue without a result (cancelled, killed)."""
    for stage, tasks in submitted.items():
        for task in tasks:
            gone = 0
            while not task.done():
                # submitit learns of a job that ended without a result from sacct only, which
                # a cluster without accounting lacks: ask squeue too
                gone = gone + 1 if _left_queue(task.job_id) else 0
                if gone >= GONE_POLLS:
                    raise JobFailedError(
                        f"SLURM {stage} task {task.job_id} ended without a result (cancelled or "
                        f"killed); its output: {task.paths.stderr}"
                    )
                time.sleep(poll_s)
            try:
                task.results()  # every process of a multi-process job
            except Exception as exc:  # submitit wraps the remote error and its traceback
                raise JobFailedError(
                    f"SLURM {stage} task {task.job_id} failed: {str(exc).strip().splitlines()[-1]}"
                ) from None
        log(f"{stage}: {len(tasks)} tasks finished")


def _left_queue(job_id: str) -> bool:
    """Whether squeue no longer lists the job, or lists it as ended; False when squeue cannot
    say (not installed, controller busy)."""
    try:
        done = subprocess.run(
            ["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    if done.returncode != 0:
        return "Invalid job id" in done.stderr
    states = done.stdout.split()
    return not states or all(state in ENDED for state in states)


def check_script_values(cluster: ClusterConfig, folder: str | Path) -> None:
    """Every cluster string (and the log folder) goes into generated sbatch scripts, where a
    newline would end an #SBATCH line and run the rest as shell: ConfigError naming the key
    of the first one that holds a control character."""
    values = [*_strings(cluster, "cluster"), ("the SLURM log folder", str(folder))]
    for key, value in values:
        bad = next((c for c in value if unicodedata.category(c) == "Cc"), None)
        if bad is not None:
            raise ConfigError(
                f"config key '{key}' holds the control character {bad!r}; "
                "values that go into sbatch scripts must be one line of text"
            )


def _strings(value: Any, key: str) -> Iterator[tuple[str, str]]:
    """(dotted key, string) for every string in a config value, dict keys included."""
    if isinstance(value, str):
        yield key, value
    elif dataclasses.is_dataclass(value):
        for field in dataclasses.fields(value):
            yield from _strings(getattr(value, field.name), f"{key}.{field.name}")
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from _strings(name, f"{key} (a key)")
            yield from _strings(item, f"{key}.{name}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _strings(item, f"{key}[{index}]")


def _parameters(
    stage: str,
    resources: StageResources,
    cluster: ClusterConfig,
    after: list[str],
    layout: TaskLayout = ONE_PROCESS,
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "job_name": f"vlmdata-{stage}",
        "time": resources.timeout_min,
        "nodes": layout.nodes,
        "ntasks_per_node": layout.tasks_per_node,
        "cpus_per_task": resources.cpus_per_task,
        "mem": f"{resources.mem_gb}G",
        "array_parallelism": cluster.array_parallelism,
        "setup": list(cluster.setup),
        "additional_parameters": dict(cluster.extra_sbatch),
    }
    if layout != ONE_PROCESS:
        # a rank that fails (its lock refused, an error) ends the job's other ranks, which
        # would otherwise wait for it in a collective until the process group times out
        params["srun_args"] = ["--kill-on-bad-exit=1"]
    if resources.gpus_per_node:
        params["gpus_per_node"] = resources.gpus_per_node
    for key in ("partition", "account", "qos", "constraint"):
        if getattr(cluster, key):
            params[key] = getattr(cluster, key)
    if after:
        params["dependency"] = "afterok:" + ":".join(after)
    return params
