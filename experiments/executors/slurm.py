"""Run a job graph on SLURM through submitit.

One job array per stage (pool, curate, train, eval): every job of a stage is a task of that
stage's array, and the array starts only after the arrays it reads from finished
(`afterok`). A preempted or timed-out task is requeued (submitit's checkpoint hook) and
resumes from its stage's own state: training from its last checkpoint, evaluation from its
finished tasks, finished stages from their markers.
"""

from __future__ import annotations

import dataclasses
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from configs.compose import ConfigError
from experiments.plan import Job
from experiments.schemas import ClusterConfig, StageResources
from experiments.stages import execute, is_done
from experiments.sweep import JobGraph


class StageTask:
    """What a SLURM task runs; requeues itself on preemption or timeout."""

    def __init__(self, job: Job):
        self.job = job

    def __call__(self) -> dict[str, Any]:
        return execute(self.job)

    def checkpoint(self) -> Any:
        import submitit

        return submitit.helpers.DelayedSubmission(StageTask(self.job))


def submit_slurm(
    graph: JobGraph, cluster: ClusterConfig, folder: str | Path, log=print
) -> dict[str, list[Any]]:
    """Submit every unfinished job; returns the submitit jobs by stage."""
    check_script_values(cluster, folder)
    import submitit

    submitted: dict[str, list[Any]] = {}
    array_ids: dict[str, str] = {}  # job key -> the SLURM array id that produces it
    for stage, jobs in graph.by_stage():
        todo = [job for job in jobs if not is_done(job)]
        if not todo:
            continue
        after = sorted({array_ids[d] for job in todo for d in job.deps if d in array_ids})
        executor = submitit.SlurmExecutor(
            folder=str(Path(folder) / "%j"), max_num_timeout=cluster.max_requeues
        )
        executor.update_parameters(**_parameters(stage, getattr(cluster, stage), cluster, after))
        with executor.batch():
            tasks = [executor.submit(StageTask(job)) for job in todo]
        array = tasks[0].job_id.split("_")[0]
        for job in todo:
            array_ids[job.key] = array
        submitted[stage] = tasks
        dep = f" after {','.join(after)}" if after else ""
        log(f"submitted {stage}: array {array} ({len(todo)} tasks){dep}")
    return submitted


def wait_slurm(submitted: dict[str, list[Any]], poll_s: float = 2.0, log=print) -> None:
    """Block until every task ended; raise if one failed (its stderr tail in the message)."""
    for stage, tasks in submitted.items():
        for task in tasks:
            while not task.done():
                time.sleep(poll_s)
            try:
                task.result()
            except Exception as exc:  # submitit wraps the remote error and its traceback
                raise RuntimeError(
                    f"SLURM {stage} task {task.job_id} failed: {str(exc).strip().splitlines()[-1]}"
                ) from None
        log(f"{stage}: {len(tasks)} tasks finished")


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
    stage: str, resources: StageResources, cluster: ClusterConfig, after: list[str]
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "job_name": f"vlmdata-{stage}",
        "time": resources.timeout_min,
        "cpus_per_task": resources.cpus_per_task,
        "mem": f"{resources.mem_gb}G",
        "array_parallelism": cluster.array_parallelism,
        "setup": list(cluster.setup),
        "additional_parameters": dict(cluster.extra_sbatch),
    }
    if resources.gpus_per_node:
        params["gpus_per_node"] = resources.gpus_per_node
    for key in ("partition", "account", "qos", "constraint"):
        if getattr(cluster, key):
            params[key] = getattr(cluster, key)
    if after:
        params["dependency"] = "afterok:" + ":".join(after)
    return params
