"""`vlmdata eval` writes only into an empty out_dir or a run of the same checkpoint and suite:
a user's files survive, another checkpoint's run is never reused or mixed in (--force discards
it), one evaluation per out_dir at a time."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from experiments.cli import main

REPO = Path(__file__).resolve().parents[2]

# The tiny model runs in-process: one torch thread, as in tests/evaluation.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _args(checkpoint: Path, data_root: Path, out: Path, *extra: str) -> list[str]:
    return [
        "eval",
        f"checkpoint={checkpoint}",
        "suite=toyworld",
        f"data_root={data_root}",
        f"out_dir={out}",
        "limit=1",
        "only=[toyworld_colour]",
        "wandb.mode=disabled",
        "model.threads=1",
        *extra,
    ]


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("vlmdata: error:") and "\n" not in err, err
    return err


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_a_users_files_in_out_dir_survive(tiny_checkpoint, toyworld_bench_root, tmp_path, capsys):
    out = tmp_path / "mine"
    (out / "tasks").mkdir(parents=True)
    (out / "config.yaml").write_text("my: config\n")
    (out / "tasks" / "notes.yaml").write_text("my: task\n")
    before = _snapshot(out)
    assert main(_args(tiny_checkpoint, toyworld_bench_root, out)) == 2
    err = _one_line_error(capsys)
    assert str(out) in err and "--force" in err
    assert _snapshot(out) == before


def test_the_checkpoint_folder_is_refused_even_with_force(
    tiny_checkpoint, toyworld_bench_root, capsys
):
    before = _snapshot(tiny_checkpoint)
    assert (
        main(
            [
                "eval",
                "--force",
                *_args(tiny_checkpoint, toyworld_bench_root, tiny_checkpoint.parent)[1:],
            ]
        )
        == 2
    )
    assert "even with --force" in _one_line_error(capsys)
    assert _snapshot(tiny_checkpoint) == before


def test_another_checkpoints_run_is_never_reused(
    tiny_checkpoint, toyworld_bench_root, tmp_path, capsys, no_network
):
    out = tmp_path / "run"
    assert main(_args(tiny_checkpoint, toyworld_bench_root, out)) == 0
    capsys.readouterr()
    other = shutil.copytree(tiny_checkpoint, tmp_path / "other" / "hf")
    (other / "README.md").write_text("a re-exported checkpoint is another one\n")
    before = _snapshot(out)
    assert main(_args(other, toyworld_bench_root, out)) == 2
    err = _one_line_error(capsys)
    assert "holds another config's evaluation run" in err and "--force" in err
    assert _snapshot(out) == before

    # a changed limit is the same run directory: the task runs again
    assert main(_args(tiny_checkpoint, toyworld_bench_root, out, "limit=2")) == 0
    assert "1 task(s) run" in capsys.readouterr().out

    assert main(["eval", "--force", *_args(other, toyworld_bench_root, out)[1:]]) == 0
    scores = json.loads((out / "scores.json").read_text())
    assert scores["checkpoint"] == str(other)


@pytest.mark.slow
def test_two_evaluations_into_one_out_dir_exactly_one_succeeds(
    tiny_checkpoint, toyworld_bench_root, tmp_path, cli_race
):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    args = _args(tiny_checkpoint, toyworld_bench_root, out)
    first, second, _ = cli_race("evaluation.run.materialize", args, args, env)
    assert second.returncode == 2, second.stdout + second.stderr
    err = second.stderr.strip()
    assert err.count("\n") == 0 and f"being written by another run (pid {first.pid}" in err
    assert "scores:" not in second.stdout
    assert first.returncode == 0, first.stderr
    assert "1 task(s) run" in first.stdout
