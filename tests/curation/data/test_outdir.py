"""curation.data.outdir: which output directories may be written, and one writer at a time."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from curation.data.fileio import is_tmp_sibling, remove_stale_tmp
from curation.data.outdir import (
    OutputDirError,
    OutputLockedError,
    check_run,
    check_target,
    claim_output,
    lock_path,
    output_lock,
    write_run,
)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _write_lock(out_dir: Path, **holder) -> Path:
    lock = lock_path(out_dir)
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(
        json.dumps(
            {
                "host": socket.gethostname(),
                "started": "then",
                "time": 0.0,
                "slurm_job_id": None,
                "token": "theirs",
                **holder,
            }
        )
    )
    return lock


@pytest.mark.parametrize("spelt", ["/", ".", "..", "./", "sub/..", "~"])
def test_root_cwd_dots_and_home_are_never_targets(spelt, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OutputDirError, match="refusing|names no folder") as err:
        check_target(spelt, {})
    assert "\n" not in str(err.value)


def test_inputs_and_folders_above_them_are_never_targets(tmp_path):
    pool = tmp_path / "data" / "pools" / "pool.json"
    pool.parent.mkdir(parents=True)
    pool.write_text("[]")
    for target in (pool.parent, pool.parent.parent, tmp_path):
        with pytest.raises(OutputDirError, match=f"holds the pool \\({pool}\\)"):
            check_target(target, {"the pool": pool})
    with pytest.raises(OutputDirError, match="is the image root"):
        check_target(tmp_path / "img", {"the image root": tmp_path / "img"})
    assert check_target(tmp_path / "data" / "out", {"the pool": pool}) == tmp_path / "data" / "out"
    assert check_target(tmp_path / "x", {"unset": None, "empty": ""}) == tmp_path / "x"


def test_a_file_in_the_way_of_the_output_is_one_line(tmp_path):
    (tmp_path / "taken").write_text("a file")
    with pytest.raises(OutputDirError, match="taken is a file, not a directory") as err:
        check_target(tmp_path / "taken" / "deeper" / "out", {})
    assert "\n" not in str(err.value)
    with pytest.raises(OutputDirError, match="exists and is not a directory"):
        with claim_output(tmp_path / "taken", kind="subset", owned=lambda p: False):
            pass
    assert (tmp_path / "taken").read_text() == "a file"


def test_a_live_holder_stops_a_second_writer_at_once(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _write_lock(tmp_path / "out", pid=holder.pid, slurm_job_id="77")
        started = time.perf_counter()
        with pytest.raises(OutputLockedError) as err:
            with output_lock(tmp_path / "out"):
                pass
        assert time.perf_counter() - started < 1
        message = str(err.value)
        assert f"pid {holder.pid} on {socket.gethostname()}" in message
        assert "SLURM job 77" in message
        assert str(tmp_path / "out") in message and "\n" not in message
    finally:
        holder.kill()
        holder.wait()


def test_a_dead_holder_on_this_host_is_taken_over(tmp_path):
    lock = _write_lock(tmp_path / "out", pid=_dead_pid())
    with output_lock(tmp_path / "out"):
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert not lock.exists()


def test_a_recycled_pid_is_a_dead_holder(tmp_path):
    _write_lock(tmp_path / "out", pid=os.getpid(), process_start="not this process's start")
    with output_lock(tmp_path / "out"):
        pass


def test_another_hosts_holder_is_kept_unless_it_is_this_slurm_job(tmp_path, monkeypatch):
    _write_lock(tmp_path / "out", pid=1, host="elsewhere", slurm_job_id="41")
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    with pytest.raises(OutputLockedError, match="on elsewhere"):
        with output_lock(tmp_path / "out"):
            pass
    monkeypatch.setenv("SLURM_JOB_ID", "41")  # the same job, requeued
    with output_lock(tmp_path / "out") as _:
        assert json.loads(lock_path(tmp_path / "out").read_text())["host"] == socket.gethostname()


def test_an_unreadable_lock_is_held_while_fresh_and_taken_over_when_old(tmp_path):
    lock = lock_path(tmp_path / "out")
    lock.write_text("")
    with pytest.raises(OutputLockedError, match="still writing its lock"):
        with output_lock(tmp_path / "out"):
            pass
    os.utime(lock, (time.time() - 3600, time.time() - 3600))
    with output_lock(tmp_path / "out"):
        pass
    assert not lock.exists()


def test_the_same_process_may_take_its_lock_again(tmp_path):
    with output_lock(tmp_path / "out") as first:
        with output_lock(tmp_path / "out") as second:
            assert second == first
        assert lock_path(tmp_path / "out").exists()  # still held by the outer block
    assert not lock_path(tmp_path / "out").exists()


def test_tmp_siblings_are_told_apart_from_other_outputs():
    assert is_tmp_sibling(".tmp-run.ab_c12x9", "run") and is_tmp_sibling(".tmp-run.old", "run")
    assert not is_tmp_sibling(".tmp-run.v2.ab_c12x9", "run")  # run.v2's
    assert not is_tmp_sibling(".tmp-run.short", "run") and not is_tmp_sibling("run", "run")


def test_only_stale_temporaries_of_the_output_are_removed(tmp_path):
    (tmp_path / ".tmp-out.abcd1234").mkdir()
    (tmp_path / ".tmp-out.old").mkdir()
    (tmp_path / ".tmp-out.v2.abcd1234").mkdir()
    (tmp_path / "out").mkdir()
    removed = remove_stale_tmp(tmp_path, before=time.time() + 1, name="out")
    assert sorted(p.name for p in removed) == [".tmp-out.abcd1234", ".tmp-out.old"]
    (tmp_path / ".tmp-out.new12345").mkdir()  # a writer newer than the cleaner
    assert remove_stale_tmp(tmp_path, before=time.time() - 60, name="out") == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".tmp-out.new12345",
        ".tmp-out.v2.abcd1234",
        "out",
    ]


def test_claim_refuses_foreign_content_unless_forced(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputDirError, match=r"holds no subset of vlmdata.*--force"):
        with claim_output(out, kind="subset", owned=lambda p: False, replaces=True):
            pass
    with claim_output(out, kind="subset", owned=lambda p: False, replaces=True, force=True):
        pass
    with claim_output(out, kind="subset", owned=lambda p: True):
        pass
    (out / "notes.txt").unlink()
    (out / ".tmp-x.abcd1234").write_text("")  # only a killed writer's leftovers: empty
    with claim_output(out, kind="subset", owned=lambda p: False, clean=(".",)):
        pass
    assert list(out.iterdir()) == []


def test_a_run_of_another_key_is_named_and_refused(tmp_path):
    write_run(tmp_path, "training run", "k1", {"config": {"optim": {"lr": 1}, "seed": 0}})
    assert check_run(tmp_path, "training run", "k1", {})
    assert not check_run(tmp_path, "evaluation run", "k2", {})
    with pytest.raises(OutputDirError, match=r"differs in: optim.lr\).*--force"):
        check_run(tmp_path, "training run", "k2", {"config": {"optim": {"lr": 2}, "seed": 0}})
    assert not check_run(tmp_path, "training run", "k2", {}, force=True)


def test_a_resumed_run_keeps_its_record(tmp_path, monkeypatch):
    """Re-writing the record on every resume would change a finished run's files (its creation
    time) whenever a second had passed."""
    import curation.data.outdir as outdir

    monkeypatch.setattr(outdir, "_now", lambda: "first")
    write_run(tmp_path, "training run", "k1", {"config": {}})
    before = (tmp_path / ".vlmdata-run.json").read_bytes()
    monkeypatch.setattr(outdir, "_now", lambda: "later")
    write_run(tmp_path, "training run", "k1", {"config": {}})
    assert (tmp_path / ".vlmdata-run.json").read_bytes() == before
    write_run(tmp_path, "training run", "k2", {"config": {}})  # another run (forced): new record
    assert b"later" in (tmp_path / ".vlmdata-run.json").read_bytes()
