"""The SLURM executor's task layout, and two-process training through it on a REAL
single-node cluster (slurm/test_cluster.sh, as tests/experiments/test_sweep_slurm.py).

The cluster test runs a one-run sweep whose train stage asks for two CPU devices (gloo DDP):
the train job is one SLURM job of two tasks, both train (the summary's ranks), task 0 alone
writes the export, summary and marker; a scancel mid-training fails the sweep, running it
again resumes both ranks from the last checkpoint, and a preemption signal then requeues the
job, which resumes again.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from configs.compose import ConfigError
from experiments.executors.processes import TaskLayout
from experiments.executors.slurm import StageTask, _left_queue, _parameters, task_layout
from experiments.plan import Job
from experiments.schemas import ClusterConfig, StageResources
from experiments.stages import MARKER, RUNNERS

REPO = Path(__file__).resolve().parents[3]


def _job(stage: str, devices: int = 1, num_nodes: int = 1) -> Job:
    spec = {"training": {"trainer": {"devices": devices, "num_nodes": num_nodes}}}
    return Job(stage, "k" * 64, "/nowhere", (), spec if stage in ("train", "reference") else {}, "")


def test_a_training_job_runs_one_task_per_device_on_its_nodes():
    assert task_layout(_job("train", devices=8, num_nodes=2), StageResources(gpus_per_node=8)) == (
        TaskLayout(nodes=2, tasks_per_node=8)
    )
    assert task_layout(_job("reference", devices=2), StageResources()) == TaskLayout(1, 2)
    assert task_layout(_job("train", devices=-1), StageResources(gpus_per_node=4)) == (
        TaskLayout(1, 4)
    )
    assert task_layout(_job("eval"), StageResources(gpus_per_node=1)) == TaskLayout()


def test_gpus_that_differ_from_the_devices_are_refused_with_both_keys():
    with pytest.raises(ConfigError) as caught:
        task_layout(_job("train", devices=1), StageResources(gpus_per_node=8))
    message = str(caught.value)
    assert "'cluster.train.gpus_per_node' is 8" in message
    assert "training.trainer.devices is 1" in message and "\n" not in message


def test_a_multi_process_job_asks_srun_to_end_every_rank_when_one_fails():
    cluster = ClusterConfig()
    params = _parameters("train", StageResources(cpus_per_task=4), cluster, [], TaskLayout(2, 8))
    assert (params["nodes"], params["ntasks_per_node"], params["cpus_per_task"]) == (2, 8, 4)
    assert params["srun_args"] == ["--kill-on-bad-exit=1"]
    single = _parameters("eval", StageResources(), cluster, [])
    assert (single["nodes"], single["ntasks_per_node"]) == (1, 1)
    assert "srun_args" not in single


def test_the_shipped_example_cluster_fits_the_7b_recipes():
    from configs.compose import compose, to_object

    cluster = to_object(compose(ClusterConfig, REPO / "configs" / "cluster" / "example.yaml"))
    for recipe in ("llava15_7b_lora", "llava15_7b_full"):
        from omegaconf import OmegaConf

        trainer = OmegaConf.load(REPO / "configs" / "training" / f"{recipe}.yaml").trainer
        job = _job("train", devices=int(trainer.devices))
        assert task_layout(job, cluster.train) == TaskLayout(1, 8)


def test_only_task_0_locks_and_marks_the_other_tasks_run_the_stage(tmp_path, monkeypatch):
    ran = []
    monkeypatch.setitem(RUNNERS, "pool", lambda job: ran.append(job.key) or {"made": 1})
    monkeypatch.setenv("TMPDIR", os.environ.get("TMPDIR", "/tmp"))  # the stage sets its own
    job = Job("pool", "a" * 64, str(tmp_path / "store" / "pool" / "w"), (), {}, "w")

    monkeypatch.setenv("SLURM_PROCID", "1")
    assert StageTask(job)() == {"rank": 1}
    assert ran == [job.key]
    assert not (Path(job.out_dir) / MARKER).exists()
    assert not list((tmp_path / "store" / "pool").glob(".*.lock"))

    monkeypatch.setenv("SLURM_PROCID", "0")
    marker = StageTask(job)()
    assert marker["summary"] == {"made": 1} and ran == [job.key] * 2
    assert json.loads((Path(job.out_dir) / MARKER).read_text())["key"] == job.key

    monkeypatch.setenv("SLURM_PROCID", "1")  # a finished job: nothing to do on any task
    assert StageTask(job)() == {} and len(ran) == 2


SQUEUE = """#!/bin/sh
printf '%s' "$FAKE_OUT"
printf '%s' "$FAKE_ERR" >&2
exit "$FAKE_RC"
"""


@pytest.mark.parametrize(
    ("out", "err", "rc", "left"),
    [
        ("", "", 0, True),  # not listed any more
        ("CANCELLED\n", "", 0, True),
        ("RUNNING\n", "", 0, False),
        ("PENDING\n", "", 0, False),  # a requeued job waits again
        ("RUNNING\nCOMPLETED\n", "", 0, False),
        ("", "slurm_load_jobs error: Invalid job id specified", 1, True),
        ("", "Unable to contact slurm controller", 1, False),  # cannot say: keep waiting
    ],
)
def test_a_job_that_left_the_queue_is_told_apart(tmp_path, monkeypatch, out, err, rc, left):
    (tmp_path / "squeue").write_text(SQUEUE)
    (tmp_path / "squeue").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_OUT", out)
    monkeypatch.setenv("FAKE_ERR", err)
    monkeypatch.setenv("FAKE_RC", str(rc))
    assert _left_queue("12_0") is left


# --- a real cluster ------------------------------------------------------------------------

STEPS = 40
# two CPU processes, gloo DDP, 4 records each per step; a checkpoint every 2 steps
TWO_RANKS = (
    "training.trainer.devices=2",
    "training.trainer.strategy=ddp",
    "training.trainer.accelerator=cpu",
    "training.loader.per_device_batch_size=4",
    "training.trainer.global_batch_size=8",
    f"training.trainer.max_steps={STEPS}",
    "training.trainer.checkpoint_every_n_steps=2",
)


def _train_dir(store: Path) -> Path | None:
    found = glob.glob(str(store / "train" / "*"))
    return Path(found[0]) if found else None


def _squeue(env: dict, name: str) -> list[str]:
    out = subprocess.run(
        ["squeue", "-h", "-n", name, "-o", "%i"], env=env, capture_output=True, text=True
    ).stdout
    return out.split()


def _checkpoint_step(run: Path | None) -> int:
    """The step of the newest numbered checkpoint (only one is kept), -1 before the first."""
    if run is None:
        return -1
    steps = [int(p.stem.removeprefix("step")) for p in (run / "checkpoints").glob("step*.ckpt")]
    return max(steps, default=-1)


def _wait_for_checkpoint(proc: subprocess.Popen, store: Path, after: int) -> int:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        step = _checkpoint_step(_train_dir(store))
        if step > after:
            return step
        time.sleep(0.2)
    raise AssertionError(f"the sweep ended or stalled before a checkpoint after step {after}")


def _start_when_requeued(env: dict, jobs: list[str]) -> None:
    """SLURM holds a requeued job for two minutes (its begin time); start it at once."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        out = subprocess.run(
            ["squeue", "-h", "-j", ",".join(jobs), "-o", "%T %r"],
            env=env,
            capture_output=True,
            text=True,
        ).stdout.split()
        if out[:2] == ["PENDING", "BeginTime"]:
            for job in jobs:
                subprocess.run(
                    ["scontrol", "update", f"JobId={job}", "StartTime=now"], env=env, check=True
                )
            return
        time.sleep(0.2)
    raise AssertionError(f"job {jobs} was not requeued")


@pytest.mark.slow
def test_two_process_training_through_slurm_resumes_after_scancel_and_requeue(
    cluster, tmp_path, sweep_tools
):
    store = tmp_path / "store"
    env = {**sweep_tools.env(tmp_path), "SLURM_CONF": str(cluster)}
    command = sweep_tools.command(
        tmp_path,
        store,
        "executor=slurm",
        "cluster=local_test",
        "reference=''",
        overrides=TWO_RANKS,
    )

    def sweep() -> subprocess.Popen:
        return subprocess.Popen(
            command,
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    # first session: cancelled once a checkpoint is written; the sweep fails
    first = sweep()
    _wait_for_checkpoint(first, store, after=-1)
    jobs = _squeue(env, "vlmdata-train")
    assert jobs, "no train job in the queue"
    subprocess.run(["scancel", *jobs], env=env, check=True)
    output, _ = first.communicate(timeout=300)
    assert first.returncode != 0, output[-3000:]
    # squeue or submitit may see the cancelled job first: either way one line, no traceback
    cancelled = ("ended without a result (cancelled or killed)", "failed:")
    assert any(text in output for text in cancelled), output[-3000:]
    assert "Traceback" not in output.split("vlmdata: error:")[-1], output[-3000:]
    while _squeue(env, "vlmdata-train"):
        time.sleep(0.5)
    run = _train_dir(store)
    assert run is not None
    assert not (run / "train_summary.json").exists(), "training finished before the scancel"
    assert not (run / "hf").exists() and not (run / ".vlmdata-stage.json").exists()
    assert (run / "checkpoints" / "last.ckpt").is_file()
    cancelled_after = _checkpoint_step(run)  # training ran on until the scancel took effect
    record = json.loads((run / ".vlmdata-run.json").read_text())  # the run's own record

    # second session: resumes; preempted once it wrote a checkpoint of its own (submitit's
    # signal: task 0 requeues the job), and the requeued job resumes again and finishes
    second = sweep()
    preempted_after = _wait_for_checkpoint(second, store, after=cancelled_after)
    jobs = _squeue(env, "vlmdata-train")
    subprocess.run(["scancel", "--signal=USR2", *jobs], env=env, check=True)
    _start_when_requeued(env, jobs)
    output, _ = second.communicate(timeout=900)
    assert second.returncode == 0, output[-3000:]
    assert "1 node(s) x 2 processes" in output

    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["resumed_from"] == str(run / "checkpoints" / "last.ckpt")
    assert summary["global_step"] == STEPS and summary["world_size"] == 2
    ranks = summary["ranks"]
    assert [r["rank"] for r in ranks] == [0, 1]
    assert [r["slurm_task"] for r in ranks] == ["0", "1"]
    assert {r["cluster_environment"] for r in ranks} == {"SLURMEnvironment"}
    batches = [r["batches_this_session"] for r in ranks]
    # both ranks of the last session started from the preempted session's checkpoint or later
    assert batches[0] == batches[1] and 0 < batches[0] <= STEPS - preempted_after, ranks
    assert json.loads((run / ".vlmdata-run.json").read_text()) == record
    assert (run / "hf" / "model.safetensors").is_file()
    assert len(list((run / "csv").glob("version_*"))) == 3  # rank 0's logs, one per session
    markers = sweep_tools.markers(store)
    train = [m for m in markers.values() if m["stage"] == "train"]
    assert len(train) == 1 and train[0]["slurm_job_id"]
    assert [m for m in markers.values() if m["stage"] == "eval"]
