"""A plan's stage job holds its directory's lock while it runs, and an unfinished stage
directory is resumed only by a job of the same config."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
from PIL import Image

from configs.compose import compose, compose_node, config_path, to_object
from experiments import stages
from experiments.plan import Job
from training.config import TrainingConfig
from training.train import train

REPO = Path(__file__).resolve().parents[2]
FAST = [
    "model.kind=tiny",
    "wandb.mode=disabled",
    "trainer.progress_bar=false",
    "model.model_max_length=256",
    "trainer.global_batch_size=2",
    "loader.per_device_batch_size=2",
    "trainer.max_steps=3",
    "trainer.checkpoint_every_n_steps=1",
    "export=false",
]

# Runs a stage job whose runner waits until the test lets it go.
SLOW_STAGE = """
import json, sys, time
from pathlib import Path
from experiments import stages
from experiments.plan import Job
def slow(job):
    print("running", flush=True)
    while not Path(sys.argv[1]).exists():
        time.sleep(0.05)
    return {"by": "first"}
stages.RUNNERS["features"] = slow
stages.execute(Job(**json.loads(sys.argv[2])))
"""


def _job(out_dir: Path, stage: str = "features", key: str = "k" * 64, **spec) -> Job:
    return Job(stage, key, str(out_dir), (), spec, "test run")


def test_a_second_executor_of_a_running_job_fails_at_once(tmp_path, monkeypatch):
    job = _job(tmp_path / "store" / "features" / "job")
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    first = subprocess.Popen(
        [sys.executable, "-c", SLOW_STAGE, str(go), json.dumps(dataclasses.asdict(job))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    ran = []
    monkeypatch.setitem(stages.RUNNERS, "features", lambda job: ran.append(job) or {})
    try:
        assert first.stdout.readline().strip() == "running"
        with pytest.raises(FileExistsError, match=f"being written by another run .pid {first.pid}"):
            stages.execute(job)
        assert ran == []
    finally:
        go.write_text("")
        _, stderr = first.communicate(timeout=60)
    assert first.returncode == 0, stderr
    assert stages.read_marker(job)["summary"] == {"by": "first"}
    assert stages.execute(job)["summary"] == {"by": "first"} and ran == []  # finished: skipped


def _records(root: Path) -> Path:
    (root / "img").mkdir(parents=True)
    records = []
    for i, colour in enumerate(["red", "green", "blue", "red"]):
        Image.new("RGB", (32, 24), colour).save(root / "img" / f"{i}.png")
        records.append(
            {
                "id": f"r{i}",
                "image": f"img/{i}.png",
                "conversations": [
                    {"from": "human", "value": "<image>\nWhat colour is it?"},
                    {"from": "gpt", "value": colour},
                ],
            }
        )
    path = root / "records.json"
    path.write_text(json.dumps(records))
    return path


def _train_job(out_dir: Path, records: Path, *overrides: str) -> Job:
    cfg = to_object(
        compose(
            TrainingConfig,
            config_path("training", "tiny"),
            [
                f"out_dir={out_dir}",
                f"records={records}",
                f"image_root={records.parent}",
                *FAST,
                *overrides,
            ],
        )
    )
    return _job(out_dir, "train", training=dataclasses.asdict(cfg))


class Killed(RuntimeError):
    pass


class KillAt2(pl.Callback):
    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step >= 2:
            raise Killed


def test_an_unfinished_stage_dir_is_resumed_only_by_its_own_config(tmp_path):
    records = _records(tmp_path / "data")
    out = tmp_path / "store" / "train" / "full-0123456789ab"
    killed = _train_job(out, records)
    cfg = compose_node(TrainingConfig, killed.spec["training"], "training")
    with pytest.raises(Killed):  # the stage job of this config, killed after step 2
        train(cfg, callbacks=[KillAt2()])
    (out / "stage.log").write_text("the local executor's log of the killed job\n")
    last = out / "checkpoints" / "last.ckpt"
    checkpoint = last.read_bytes()

    other = _train_job(out, records, "optim.lr=0.5")
    with pytest.raises(
        FileExistsError,
        match=r"another config's training run .differs in: "
        r"optim.lr\)",
    ):
        stages.execute(other)
    assert last.read_bytes() == checkpoint and not stages.is_done(other)

    done = stages.execute(killed)
    assert done["summary"]["global_step"] == 3
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["resumed_from"] == str(last)
