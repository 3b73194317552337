"""A standalone `vlmdata eval` keeps every W&B file inside its run directory: nothing is
left in the system temp dir."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_standalone_eval_leaves_no_wandb_files_in_the_temp_dir(
    tiny_checkpoint, toyworld_bench_root, tmp_path
):
    system_tmp, out = tmp_path / "system-tmp", tmp_path / "eval"
    system_tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "SLURM_"))}
    env.update(
        TMPDIR=str(system_tmp),
        HOME=str(tmp_path),
        PYTHONPATH=str(REPO),
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.cli",
            "eval",
            f"checkpoint={tiny_checkpoint}",
            "suite=toyworld",
            f"data_root={toyworld_bench_root}",
            f"out_dir={out}",
            "limit=1",
            "only=[toyworld_colour]",
            "wandb.mode=offline",
            "model.threads=1",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert list(out.glob("wandb/offline-run-*/run-*.wandb"))
    left = sorted(p.name for p in system_tmp.iterdir())
    assert [name for name in left if "wandb" in name] == [], f"left in the temp dir: {left}"
