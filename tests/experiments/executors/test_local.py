"""The local executor runs a training job of trainer.devices > 1 as that many ranks it starts
itself (Lightning would otherwise start the sweep command again as rank 1)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from configs.compose import ConfigError
from experiments.executors.local import run_local
from experiments.plan import Job
from experiments.stages import MARKER, RUNNERS
from experiments.sweep import JobGraph


def _graph(*jobs: Job) -> JobGraph:
    graph = JobGraph()
    graph.jobs = {job.key: job for job in jobs}
    return graph


def test_a_training_job_on_several_nodes_is_refused_before_anything_runs(tmp_path, monkeypatch):
    ran = []
    monkeypatch.setitem(RUNNERS, "pool", lambda job: ran.append(job) or {})
    pool = Job("pool", "p" * 64, str(tmp_path / "pool"), (), {}, "w")
    spec = {"training": {"trainer": {"devices": 2, "num_nodes": 2}}}
    train = Job("train", "t" * 64, str(tmp_path / "train"), (pool.key,), spec, "random b0.2 s0")
    with pytest.raises(ConfigError) as caught:
        run_local(_graph(pool, train), log=lambda line: None)
    assert "training.trainer.num_nodes=2" in str(caught.value)
    assert "executor=slurm" in str(caught.value) and "\n" not in str(caught.value)
    assert ran == [] and not (tmp_path / "pool").exists()


@pytest.mark.slow
def test_a_two_device_train_job_runs_as_two_ranks_of_one_run(tmp_path, sweep_tools):
    store = tmp_path / "store"
    two_ranks = (
        "training.trainer.devices=2",
        "training.trainer.strategy=ddp",
        "training.trainer.accelerator=cpu",
        "training.loader.per_device_batch_size=4",
        "training.trainer.global_batch_size=8",
    )
    command = sweep_tools.command(tmp_path, store, "reference=''", overrides=two_ranks)
    env = {**sweep_tools.env(tmp_path), "OMP_NUM_THREADS": "2"}
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    markers = sweep_tools.markers(store)
    train = [m for m in markers.values() if m["stage"] == "train"]
    assert len(train) == 1
    run = next(p for p in (store / "train").iterdir() if (p / MARKER).is_file())
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["world_size"] == 2 and summary["samples_seen"] == 8 * summary["global_step"]
    ranks = summary["ranks"]
    assert [r["rank"] for r in ranks] == [0, 1]
    assert {r["cluster_environment"] for r in ranks} == {"LightningEnvironment"}
    assert len({r["batches_this_session"] for r in ranks}) == 1 and ranks[0]["batches_this_session"]
    assert {r["host"] for r in ranks} == {os.uname().nodename}
    assert (run / "hf" / "model.safetensors").is_file()
    assert [m for m in markers.values() if m["stage"] == "eval"]
