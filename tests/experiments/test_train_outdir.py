"""`vlmdata train` writes only into an empty out_dir or a run of the same config: a user's
files survive, another config's run is never returned or resumed (--force discards it), one
training per out_dir at a time (a killed run's temporaries: tests/training/test_train_outdir.py)."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from experiments.cli import main
from training.train import train

REPO = Path(__file__).resolve().parents[2]


def _training_tests():
    """tests/training/test_train_outdir.py, by path (site-packages ships a `tests` package)."""
    path = REPO / "tests" / "training" / "test_train_outdir.py"
    spec = importlib.util.spec_from_file_location("vlmdata_tests_training_train_outdir", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The run's overrides and the callback that kills it, shared with the library's out_dir test.
_library = _training_tests()
FAST, Killed, KillAt = _library.FAST, _library.Killed, _library.KillAt

# The tiny model trains in-process: one torch thread, as in tests/training.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _args(records: Path, out: Path, *extra: str) -> list[str]:
    return [
        "train",
        "--config",
        "tiny",
        f"records={records}",
        f"image_root={records.parent}",
        f"out_dir={out}",
        *FAST,
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


def test_a_users_files_in_out_dir_survive(records, tmp_path, capsys):
    out = tmp_path / "project"
    (out / "hf").mkdir(parents=True)
    (out / "config.yaml").write_text("my: own config\n")
    (out / "hf" / "weights.bin").write_bytes(b"my model")
    before = _snapshot(out)
    assert main(_args(records, out)) == 2
    err = _one_line_error(capsys)
    assert str(out) in err and "--force" in err
    assert _snapshot(out) == before


def test_an_input_folder_is_refused_even_with_force(records, tmp_path, capsys):
    before = _snapshot(tmp_path)
    assert main(["train", "--force", *_args(records, tmp_path)[1:]]) == 2
    assert "even with --force" in _one_line_error(capsys)
    assert _snapshot(tmp_path) == before


def test_a_finished_run_is_never_returned_for_another_config(
    records, tmp_path, capsys, tiny_config
):
    out = tmp_path / "run"
    assert main(_args(records, out)) == 0
    capsys.readouterr()
    before = _snapshot(out)
    assert main(_args(records, out, "optim.lr=0.5")) == 2
    err = _one_line_error(capsys)
    assert "another config's training run (differs in: optim.lr)" in err and "--force" in err
    other = records.with_name("other.json")
    other.write_text(json.dumps(json.loads(records.read_text())[:4]))
    assert main(_args(other, out)) == 2
    assert "inputs.records" in _one_line_error(capsys)
    assert _snapshot(out) == before

    # keys that may change between sessions: the finished run is returned as it is
    same = train(
        tiny_config(
            out,
            *FAST[1:],
            f"records={records}",
            f"image_root={tmp_path}",
            "loader.num_workers=1",
            "trainer.log_every_n_steps=1",
        )
    )
    assert same.global_step == 3 and _snapshot(out) == before


def test_a_killed_run_is_resumed_only_by_its_own_config(records, tmp_path, capsys, tiny_config):
    out = tmp_path / "run"
    with pytest.raises(Killed):
        train(
            tiny_config(out, *FAST, f"records={records}", f"image_root={tmp_path}"),
            callbacks=[KillAt(2)],
        )
    last = out / "checkpoints" / "last.ckpt"
    checkpoint, config = last.read_bytes(), (out / "config.yaml").read_text()

    assert main(_args(records, out, "optim.lr=0.5", "seed=3")) == 2
    assert "differs in: optim.lr, seed" in _one_line_error(capsys)
    assert last.read_bytes() == checkpoint and (out / "config.yaml").read_text() == config

    resumed = train(
        tiny_config(
            out,
            *FAST,
            f"records={records}",
            f"image_root={tmp_path}",
            "trainer.log_every_n_steps=1",
        )
    )
    assert resumed.summary["resumed_from"] == str(last) and resumed.global_step == 3


def test_force_discards_another_configs_run(records, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_args(records, out)) == 0
    (out / "csv" / "version_0" / "marker").write_text("old session")
    assert main(["train", "--force", *_args(records, out, "optim.lr=0.5")[1:]]) == 0
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["resumed_from"] is None and summary["global_step"] == 3
    assert "lr: 0.5" in (out / "config.yaml").read_text()
    assert not (out / "csv" / "version_0" / "marker").exists()


@pytest.mark.slow
def test_two_trainings_into_one_out_dir_exactly_one_succeeds(records, tmp_path, cli_race):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    first, second, _ = cli_race(
        "training.train.load_training_inputs",
        _args(records, out),
        _args(records, out, "optim.lr=0.5"),
        env,
    )
    assert second.returncode == 2, second.stdout + second.stderr
    err = second.stderr.strip()
    assert err.count("\n") == 0 and f"being written by another run (pid {first.pid}" in err
    assert "trained" not in second.stdout
    assert first.returncode == 0, first.stderr
    assert "trained 3 steps" in first.stdout
    assert "lr: 0.5" not in (out / "config.yaml").read_text()
    assert len(list((out / "csv").glob("version_*"))) == 1


def test_the_world_foundation_of_a_standalone_train_is_the_worlds_cached_one(tmp_path):
    """model.foundation=world from a ToyWorld's records: the cached foundation of that world
    (a finished one is found by its stage marker, nothing is built)."""
    from experiments.commands.train import use_world_foundation
    from toyworld.config import ToyWorldConfig
    from toyworld.make import make_world
    from training.config import TrainingConfig
    from training.foundation.build import foundation_key
    from training.foundation.recipe import FoundationRecipe

    world_cfg = ToyWorldConfig(
        out_dir=str(tmp_path / "w"), pool_size=60, benchmark_items_per_skill=2, seed=3
    )
    world = make_world(world_cfg, progress=False)
    key = foundation_key(world_cfg, FoundationRecipe())
    made = tmp_path / "cache" / "foundation" / f"toyworld-{key[:12]}"
    made.mkdir(parents=True)
    (made / ".vlmdata-stage.json").write_text(json.dumps({"key": key}))
    cfg = TrainingConfig(records=str(world / "pool.json"), out_dir=str(tmp_path / "run"))
    cfg.model.kind, cfg.model.foundation = "assemble", "world"
    use_world_foundation(cfg, tmp_path / "cache")
    assert cfg.model.foundation == str(made)


def test_the_world_foundation_needs_records_from_a_toyworld(tmp_path, capsys):
    records = tmp_path / "records.json"
    records.write_text("[]")
    code = main(["train", f"records={records}", f"out_dir={tmp_path / 'run'}"])
    err = _one_line_error(capsys)
    assert code == 2 and "model.foundation=world" in err and "not a ToyWorld pool" in err
