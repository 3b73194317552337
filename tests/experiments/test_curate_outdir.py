"""`vlmdata curate` keeps a user's data: it replaces only a finished subset (or --force), never
/, ., .., the home directory or a folder holding its inputs; one curation per out_dir at a time;
a killed curation's temporaries are gone after the next run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from curation.data.records import write_records
from experiments.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def pool(tmp_path: Path) -> Path:
    records = [
        {
            "id": f"s{i}",
            "conversations": [
                {"from": "human", "value": f"q {i}?"},
                {"from": "gpt", "value": f"a {i}"},
            ],
        }
        for i in range(10)
    ]
    path = tmp_path / "pools" / "pool.jsonl"
    path.parent.mkdir()
    write_records(path, records)
    return path


def _args(pool: Path, out: str | Path, *extra: str) -> list[str]:
    return [
        "curate",
        "method=random",
        "budget=3",
        "data.kind=llava",
        f"data.pool={pool}",
        f"out_dir={out}",
        "progress=false",
        f"cache_dir={pool.parent.parent / 'cache'}",
        *extra,
    ]


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("vlmdata: error:") and "\n" not in err, err
    return err


def _tmp_siblings(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".tmp-"))


def test_a_users_folder_survives_and_force_replaces_it(pool, tmp_path, capsys):
    folder = tmp_path / "thesis"
    folder.mkdir()
    (folder / "chapter1.tex").write_text("months of work")
    assert main(_args(pool, folder)) == 2
    err = _one_line_error(capsys)
    assert str(folder) in err and "--force" in err
    assert (folder / "chapter1.tex").read_text() == "months of work"

    assert main(["curate", "--force", *_args(pool, folder)[1:]]) == 0
    assert sorted(p.name for p in folder.iterdir()) == [
        "indices.npy",
        "manifest.json",
        "subset.json",
    ]


def test_a_finished_subset_is_replaced_without_force(pool, tmp_path):
    out = tmp_path / "subset"
    assert main(_args(pool, out, "seed=1")) == 0
    assert main(_args(pool, out, "seed=2")) == 0
    assert json.loads((out / "manifest.json").read_text())["seed"] == 2


@pytest.mark.parametrize("where", ["pool folder", "above the pool", "home"])
def test_inputs_and_home_are_refused_even_with_force(where, pool, tmp_path, capsys, monkeypatch):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("key")
    monkeypatch.setenv("HOME", str(home))
    out = {
        "pool folder": str(pool.parent),
        "above the pool": str(tmp_path),
        "home": "${oc.env:HOME}",
    }[where]
    before = sorted(p for p in tmp_path.rglob("*"))
    assert main(["curate", "--force", *_args(pool, out)[1:]]) == 2
    assert "even with --force" in _one_line_error(capsys)
    assert sorted(p for p in tmp_path.rglob("*")) == before
    assert (home / ".ssh" / "id_ed25519").read_text() == "key"


@pytest.mark.parametrize("out", ["/", ".", ".."])
def test_root_and_dot_paths_are_one_line_errors(out, pool, capsys):
    assert main(_args(pool, out)) == 2
    assert f"out_dir={out}" in _one_line_error(capsys)


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "HOME": str(tmp_path)}


def test_two_curations_of_one_out_dir_exactly_one_succeeds(pool, tmp_path, cli_race):
    out = tmp_path / "subset"
    first, second, seconds = cli_race(
        "curation.run.load_context",  # after the out_dir is taken, before anything is written
        _args(pool, out, "seed=1"),
        _args(pool, out, "seed=2"),
        _env(tmp_path),
    )
    assert second.returncode == 2, second.stdout + second.stderr
    err = second.stderr.strip()
    assert err.count("\n") == 0 and "being written by another run" in err
    assert f"pid {first.pid}" in err
    assert "samples" not in second.stdout  # no success reported
    assert seconds < 30  # at once: no waiting for the first
    assert first.returncode == 0, first.stderr
    assert f"-> {out}" in first.stdout
    assert json.loads((out / "manifest.json").read_text())["seed"] == 1
    assert not (tmp_path / ".subset.lock").exists()


# Kill points inside the atomic directory write: while the new subset is being built, and
# after the old one was moved aside but before it was removed.
KILLED_CURATE = """
import shutil, sys, time
import curation.data.subset
where = sys.argv[1]
if where == "building":
    write = curation.data.subset.write_records
    def stop(*args, **kwargs):
        write(*args, **kwargs)
        print("ready", flush=True)
        time.sleep(600)
    curation.data.subset.write_records = stop
else:
    rmtree = shutil.rmtree
    def stop(path, *args, **kwargs):
        if str(path).endswith(".old") and __import__("os").path.exists(path):
            print("ready", flush=True)
            time.sleep(600)
        return rmtree(path, *args, **kwargs)
    shutil.rmtree = stop
from experiments.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("where", ["building", "removing the old subset"])
def test_after_kill_9_and_a_rerun_no_tmp_sibling_remains(where, pool, tmp_path):
    out = tmp_path / "subset"
    assert main(_args(pool, out, "seed=1")) == 0
    victim = subprocess.Popen(
        [sys.executable, "-c", KILLED_CURATE, where, *_args(pool, out, "seed=2")],
        stdout=subprocess.PIPE,
        text=True,
        env=_env(tmp_path),
    )
    assert victim.stdout.readline().strip() == "ready"
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    victim.stdout.close()
    assert _tmp_siblings(tmp_path)  # the kill left temporaries beside the subset

    assert main(_args(pool, out, "seed=3")) == 0
    assert _tmp_siblings(tmp_path) == []
    assert not (tmp_path / ".subset.lock").exists()
    assert json.loads((out / "manifest.json").read_text())["seed"] == 3
