"""The processes of one stage job: one per training device, and what those beside rank 0 run.

A training job (train, reference) runs trainer.devices processes on each of trainer.num_nodes
nodes; every other job runs one. Process 0 runs the job as any job runs
(experiments.stages.execute: the output lock, the stage, the completion marker); the others
run the stage alone and meet rank 0 in the training's process group (training writes its
checkpoints, export and summary on rank 0 only).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from experiments.plan import Job
from experiments.stages import RUNNERS, is_done, use_store_tmp

# Stages whose job spec holds a training config.
TRAINING_STAGES = ("reference", "train")


@dataclasses.dataclass(frozen=True)
class TaskLayout:
    """The processes of one job: `nodes` x `tasks_per_node`."""

    nodes: int = 1
    tasks_per_node: int = 1

    @property
    def processes(self) -> int:
        return self.nodes * self.tasks_per_node


ONE_PROCESS = TaskLayout()


def job_layout(job: Job, gpus_per_node: int = 0) -> TaskLayout:
    """trainer.num_nodes x trainer.devices for a training job (devices -1, Lightning's "every
    GPU", is `gpus_per_node`, or 1 without GPUs); one process for every other job."""
    if job.stage not in TRAINING_STAGES:
        return ONE_PROCESS
    trainer = job.spec["training"].get("trainer", {})
    devices = int(trainer.get("devices", 1))
    if devices < 1:
        devices = gpus_per_node or 1
    return TaskLayout(int(trainer.get("num_nodes", 1)), devices)


def run_beside_rank0(job: Job, rank: int) -> dict[str, Any]:
    """Process `rank` > 0 of a multi-process job: the stage's own work, without the output
    lock and the marker, which are rank 0's."""
    if is_done(job):
        return {}
    use_store_tmp(job)
    RUNNERS[job.stage](job)
    return {"rank": rank}
