"""Atomic file output and content hashes.

Every output of every stage goes through these helpers: the bytes are written to a
temporary file in the destination folder and renamed into place, so a crash never
leaves a file under a finished output's name that a later run would trust.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from configs.compose import resolved_yaml

TMP_PREFIX = ".tmp-"
_TMP_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_")  # tempfile's random names


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[IO]:
    """Open a temporary sibling of `path`; rename it onto `path` only if the block succeeds."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open supports modes 'w' and 'wb', not {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{path.name}.", dir=path.parent)
    # mkstemp makes 0600 files; a finished output gets the permissions of any new file
    os.chmod(tmp, 0o666 & ~_umask())
    if mode == "w":
        kwargs.setdefault("encoding", "utf-8")
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w") as handle:
        handle.write(text)


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    """Deterministic JSON (sorted keys off: callers control order; no NaN)."""
    text = json.dumps(obj, indent=indent, ensure_ascii=False, allow_nan=False)
    atomic_write_text(path, text + "\n")


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Build a whole directory under a temporary name; rename it onto `path` on success.

    An existing `path` is replaced only after the new one is complete.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{path.name}.", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f"{TMP_PREFIX}{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def is_tmp_sibling(entry: str, name: str) -> bool:
    """Whether `entry` is a temporary of output `name`: atomic_open's and atomic_directory's
    `.tmp-<name>.<8 random chars>` or atomic_directory's `.tmp-<name>.old`, not another
    output's (`.tmp-<name>.v2.<random>` belongs to `<name>.v2`)."""
    prefix = f"{TMP_PREFIX}{name}."
    if not entry.startswith(prefix):
        return False
    suffix = entry[len(prefix) :]
    return suffix == "old" or (len(suffix) == 8 and set(suffix) <= _TMP_CHARS)


def remove_stale_tmp(
    folder: str | os.PathLike, before: float, name: str | None = None
) -> list[Path]:
    """Delete what killed writers left in `folder`: the temporaries of output `name` (of every
    output when None) last modified before `before` (a time.time()). Only a caller that holds
    the outputs' lock may call this: a temporary of a live writer would go too."""
    folder = Path(folder)
    removed = []
    try:
        entries = list(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        if not (
            is_tmp_sibling(entry.name, name)
            if name is not None
            else entry.name.startswith(TMP_PREFIX)
        ):
            continue
        try:
            if entry.lstat().st_mtime >= before:
                continue
        except FileNotFoundError:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
        removed.append(entry)
    return removed


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """The sha256 of a file's bytes; of a directory (a pool of parquet shards), the sha256 of
    the sorted list of its files' relative paths and sha256s, hidden entries left out."""
    if Path(path).is_dir():
        return sha256_json(
            [[name, sha256_file(Path(path) / name, chunk_size)] for name in _visible_files(path)]
        )
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def _visible_files(folder: str | os.PathLike) -> list[str]:
    names = []
    for parent, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        names += [
            Path(parent, name).relative_to(folder).as_posix()
            for name in files
            if not name.startswith(".")
        ]
    return sorted(names)


def sha256_json(obj: Any) -> str:
    """Hash of a JSON-able value, independent of dict insertion order."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def save_resolved(cfg: Any, path: str | os.PathLike) -> Path:
    """Write the fully resolved config (atomically) next to an output."""
    path = Path(path)
    atomic_write_text(path, resolved_yaml(cfg))
    return path
