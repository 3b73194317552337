"""Interpolations are resolved once, when the run's config is composed: an escaped
`\\${oc.env:...}` stays literal text in every stage's spec, saved config and W&B run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from configs.compose import compose_node, resolved_dict
from curation.data.fileio import save_resolved
from evaluation.config import EvalConfig
from experiments.plan import plan_run
from experiments.sweep import experiment_config
from training.config import TrainingConfig

SECRET = "s3cr3t-value-from-the-environment"
ESCAPED = "\\${oc.env:VLMDATA_TEST_SECRET}"  # as typed on a command line: name=\${...}
LITERAL = "${oc.env:VLMDATA_TEST_SECRET}"


@pytest.fixture
def secret_env(monkeypatch):
    monkeypatch.setenv("VLMDATA_TEST_SECRET", SECRET)


def test_stage_specs_and_their_configs_keep_the_literal(tmp_path, secret_env):
    exp = experiment_config("toyworld", [f"store={tmp_path}", f"name={ESCAPED}"])
    assert exp.name == LITERAL
    jobs = plan_run(exp).jobs
    train = compose_node(TrainingConfig, jobs["train"].spec["training"], "training")
    evaluation = compose_node(EvalConfig, jobs["eval"].spec["evaluation"], "evaluation")
    assert train.wandb.group == evaluation.wandb.group == LITERAL
    assert jobs["curate"].spec["wandb"]["group"] == LITERAL
    assert resolved_dict(train)["wandb"]["group"] == LITERAL
    saved = save_resolved(train, tmp_path / "config.yaml")
    assert f"group: {LITERAL}\n" in saved.read_text() and SECRET not in saved.read_text()


def test_compose_node_takes_plain_strings_literally(secret_env):
    params = compose_node(TrainingConfig, {"wandb": {"name": "a \\${b} ${oc.env:X} \\"}}, "t")
    assert params.wandb.name == "a \\${b} ${oc.env:X} \\"


@pytest.mark.slow
def test_a_run_never_resolves_an_escaped_secret(tmp_path, sweep_tools):
    """`vlmdata run name=\\${oc.env:...}` end to end: the secret is in no file of the store."""
    store = tmp_path / "store"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "SLURM_"))}
    env.update(
        VLMDATA_TEST_SECRET=SECRET,
        HOME=str(tmp_path / "home"),
        TMPDIR=str(tmp_path),
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
    )
    command = [
        sys.executable,
        "-m",
        "experiments.cli",
        "run",
        f"name={ESCAPED}",
        f"store={store}",
        "data.toyworld.pool_size=200",
        "data.toyworld.benchmark_items_per_skill=5",
        "training.trainer.max_steps=2",
        "training.loader.per_device_batch_size=8",
        "training.trainer.global_batch_size=8",
        "evaluation.limit=2",
        "evaluation.only=[toyworld_colour]",
        "progress=false",
        *sweep_tools.smoke_foundation,
    ]
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    config = next(store.glob("train/*/config.yaml")).read_text()
    assert f"group: {LITERAL}" in config
    leaked = [p for p in store.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert leaked == []
    groups = json.dumps([p.read_text(errors="replace") for p in store.rglob("*.wandb")])
    assert SECRET not in groups
