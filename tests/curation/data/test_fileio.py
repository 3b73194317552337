import json

import pytest

from curation.data.fileio import (
    TMP_PREFIX,
    atomic_directory,
    atomic_open,
    atomic_write_json,
    sha256_file,
    sha256_json,
)


def test_atomic_open_failure_leaves_nothing(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_open(target) as handle:
            handle.write("half")
            raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []


def test_atomic_open_failure_keeps_previous_version(tmp_path):
    target = tmp_path / "out.json"
    atomic_write_json(target, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic_open(target) as handle:
            handle.write("{broken")
            raise RuntimeError
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_atomic_directory_replaces_only_when_complete(tmp_path):
    target = tmp_path / "subset"
    with atomic_directory(target) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(KeyError):
        with atomic_directory(target) as tmp:
            (tmp / "a").write_text("2")
            raise KeyError
    assert (target / "a").read_text() == "1"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TMP_PREFIX)]
    with atomic_directory(target) as tmp:
        (tmp / "b").write_text("3")
    assert sorted(p.name for p in target.iterdir()) == ["b"]


def test_hashes(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    assert sha256_file(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256_json({"a": 1, "b": [2]}) == sha256_json({"b": [2], "a": 1})
    assert sha256_json({"a": 1}) != sha256_json({"a": 2})


def test_rejects_append_mode(tmp_path):
    with pytest.raises(ValueError, match="supports modes"):
        with atomic_open(tmp_path / "x", "a"):
            pass


def test_outputs_get_normal_permissions(tmp_path):
    import os
    import stat

    mask = os.umask(0o022)
    try:
        atomic_write_json(tmp_path / "f.json", {})
        with atomic_directory(tmp_path / "d") as tmp:
            (tmp / "x").write_text("1")
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "f.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755


def test_sha256_of_a_folder_covers_its_files_names_and_bytes(tmp_path):
    from curation.data.fileio import sha256_file

    pool = tmp_path / "pool"
    (pool / "data").mkdir(parents=True)
    (pool / "data" / "a.parquet").write_bytes(b"one")
    (pool / "b.parquet").write_bytes(b"two")
    first = sha256_file(pool)
    (pool / ".cache").mkdir()
    (pool / ".cache" / "x").write_bytes(b"ignored")
    (pool / ".lock").write_bytes(b"ignored")
    assert sha256_file(pool) == first  # hidden entries are not the pool
    (pool / "b.parquet").write_bytes(b"TWO")
    assert sha256_file(pool) != first
    (pool / "b.parquet").write_bytes(b"two")
    (pool / "b.parquet").rename(pool / "c.parquet")
    assert sha256_file(pool) != first  # a renamed shard moves its rows
