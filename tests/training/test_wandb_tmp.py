"""A standalone `vlmdata train` keeps every W&B file inside its run directory: nothing is
left in the system temp dir (W&B's service otherwise leaves wandb-<pid>-* folders and
sockets there)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def private_env(tmp_path: Path) -> dict[str, str]:
    system_tmp, home = tmp_path / "system-tmp", tmp_path / "home"
    system_tmp.mkdir()
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "SLURM_"))}
    return {**env, "TMPDIR": str(system_tmp), "HOME": str(home), "PYTHONPATH": str(REPO)}


@pytest.mark.slow
def test_standalone_train_leaves_no_wandb_files_in_the_temp_dir(
    tmp_path, image_records, write_records
):
    records = write_records(tmp_path, image_records(tmp_path, 4))
    run = tmp_path / "run"
    env = private_env(tmp_path)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.cli",
            "train",
            f"records={records}",
            f"image_root={tmp_path}",
            f"out_dir={run}",
            "wandb.mode=offline",
            "model.kind=tiny",
            "trainer.max_steps=2",
            "trainer.global_batch_size=4",
            "loader.per_device_batch_size=4",
            "trainer.progress_bar=false",
            "export=false",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert list(run.glob("wandb/offline-run-*/run-*.wandb"))
    left = sorted(p.name for p in Path(env["TMPDIR"]).iterdir())
    assert [name for name in left if "wandb" in name] == [], f"left in the temp dir: {left}"
