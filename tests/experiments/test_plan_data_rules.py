"""The data rules (data.image_paths, data.limits) reach every stage that reads the pool, and
key the stages whose output they change."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from PIL import Image

from curation.data.records import RecordError
from curation.data.subset import read_subset
from experiments.plan import plan_run
from experiments.stages import execute
from experiments.sweep import experiment_config


@pytest.fixture
def llava_pool(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    Image.new("RGB", (4, 4), "red").save(tmp_path / "outside.png")
    Image.new("RGB", (4, 4), "blue").save(root / "in.png")
    records = [
        {
            "id": f"r{i}",
            "image": image,
            "conversations": [
                {"from": "human", "value": "<image>\nColour?"},
                {"from": "gpt", "value": "red"},
            ],
        }
        for i, image in enumerate(["in.png", "../outside.png"])
    ]
    path = tmp_path / "pool.json"
    path.write_text(json.dumps(records))
    return path


def _exp(tmp_path: Path, pool: Path, *overrides: str):
    return experiment_config(
        "toyworld",
        [
            f"store={tmp_path / 'store'}",
            "data.kind=llava",
            f"data.pool={pool}",
            f"data.image_root={pool.parent / 'root'}",
            "curation=random",
            "curation.budget=1.0",
            "progress=false",
            "wandb.mode=disabled",
            "training.model.kind=tiny",  # a LLaVA pool has no ToyWorld foundation
            *overrides,
        ],
    )


def test_rules_key_curation_and_reach_training(tmp_path, llava_pool):
    base = plan_run(_exp(tmp_path, llava_pool)).jobs
    anywhere = plan_run(_exp(tmp_path, llava_pool, "data.image_paths=any")).jobs
    capped = plan_run(_exp(tmp_path, llava_pool, "data.limits.max_turns=10")).jobs
    assert base["curate"].spec["image_paths"] == "inside"
    assert anywhere["curate"].spec["image_paths"] == "any"
    assert capped["curate"].spec["limits"]["max_turns"] == 10
    assert len({base["curate"].key, anywhere["curate"].key, capped["curate"].key}) == 3
    assert anywhere["train"].spec["training"]["loader"]["image_paths"] == "any"
    assert capped["train"].spec["training"]["loader"]["limits"]["max_turns"] == 10


def test_curate_stage_applies_the_rules(tmp_path, llava_pool, monkeypatch):
    # a stage sends the process's temp files to <store>/tmp: restore them afterwards
    monkeypatch.setenv("TMPDIR", os.environ.get("TMPDIR", tempfile.gettempdir()))
    monkeypatch.setattr(tempfile, "tempdir", tempfile.tempdir)
    with pytest.raises(RecordError, match=r"id='r1'\): image_outside_root"):
        execute(plan_run(_exp(tmp_path, llava_pool)).jobs["curate"])
    job = plan_run(_exp(tmp_path, llava_pool, "data.image_paths=any")).jobs["curate"]
    execute(job)
    assert sorted(read_subset(job.out_dir).indices.tolist()) == [0, 1]
