"""Foundation models that ship with the project, so a fresh clone's demo does not build them.

`vlmdata toyworld pretrain ship=true` builds the demo world's foundation and copies its three
parts and its manifest (a few MB) under training/foundation/shipped/toyworld-<key>/, with the
sha256 of every file and the machine that built it. `build_foundation` copies a shipped
foundation into place instead of building it when its key is the one the code and recipe give
now (the key hashes the world's corpus settings, the recipe and the source of toyworld/ and
this package), so a changed recipe or generator is rebuilt, never served stale; a shipped file
whose bytes do not match its sha256 is refused. One foundation ships at a time: shipping
removes the others.

What a shipped foundation does not carry: stage 1's records (corpus/, re-drawn from the
world's seed by a local build) and stage 1's run log. Its weights are those of the machine
named in its manifest; a local build on another CPU gives other floats (bench/RESULTS.md), so
shipping also makes every machine's stage 2 start from the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from configs.errors import UserError
from curation.data.fileio import atomic_directory, atomic_write_json

ROOT = Path(__file__).parent / "shipped"
PREFIX = "toyworld-"


class ShippedFoundationError(UserError, ValueError):
    """A shipped foundation's file is missing, extra or not the bytes its manifest lists."""


def shipped_folder(key: str, root: Path | None = None) -> Path:
    """Where the foundation of `key` ships under `root` (default: ROOT, read at call time)."""
    return Path(ROOT if root is None else root) / f"{PREFIX}{key[:12]}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _cpu() -> str:
    """The CPU's model name (Linux), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({platform.machine()})"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _copy_parts(source: Path, target: Path, parts: Sequence[str]) -> None:
    for part in parts:
        if (source / part).is_dir():
            shutil.copytree(source / part, target / part)
        else:
            shutil.copy2(source / part, target / part)


def _files(folder: Path, parts: Sequence[str]) -> list[str]:
    names = []
    for part in parts:
        path = folder / part
        found = sorted(path.rglob("*")) if path.is_dir() else [path]
        names += [p.relative_to(folder).as_posix() for p in found if p.is_file()]
    return names


def ship(built: Path, parts: Sequence[str], manifest_name: str, root: Path | None = None) -> Path:
    """Copy the finished foundation `built` (its `parts` and manifest) under `root`, with the
    sha256 of each file; other foundations shipped there are removed. Returns its folder."""
    manifest: dict[str, Any] = json.loads((built / manifest_name).read_text(encoding="utf-8"))
    if "shipped" in manifest:
        raise ShippedFoundationError(
            f"{built} was copied from a shipped foundation, not built here: ship a new build "
            "(another out_dir)"
        )
    target = shipped_folder(manifest["key"], root)
    with atomic_directory(target) as tmp:
        _copy_parts(built, tmp, parts)
        manifest["shipped"] = {
            "files": {name: _sha256(tmp / name) for name in _files(tmp, parts)},
            "built_on": _cpu(),
            "shipped_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        atomic_write_json(tmp / manifest_name, manifest)
    for other in target.parent.glob(f"{PREFIX}*"):
        if other != target and other.is_dir():
            shutil.rmtree(other)
    return target


def unpack_shipped(
    key: str, target: Path, parts: Sequence[str], manifest_name: str, root: Path | None = None
) -> bool:
    """Copy the foundation of `key` shipped under `root` into the (empty) folder `target` and
    check every file's sha256: True. No foundation of that key shipped: False, nothing copied."""
    source = shipped_folder(key, root)
    if not (source / manifest_name).is_file():
        return False
    manifest = json.loads((source / manifest_name).read_text(encoding="utf-8"))
    if manifest.get("key") != key:
        return False
    expected = manifest["shipped"]["files"]
    missing = [name for name in expected if not (source / name).is_file()]
    if missing:
        raise ShippedFoundationError(
            f"shipped foundation file {source / missing[0]} is missing: restore it (git checkout "
            f"-- {source}) or rebuild and ship it (vlmdata toyworld pretrain ship=true)"
        )
    _copy_parts(source, target, parts)
    for name in sorted(set(expected) | set(_files(target, parts))):
        copied = target / name
        if name not in expected or not copied.is_file() or _sha256(copied) != expected[name]:
            raise ShippedFoundationError(
                f"shipped foundation file {source / name} does not match the sha256 its "
                f"{manifest_name} lists: restore it (git checkout -- {source}) or rebuild and "
                "ship it (vlmdata toyworld pretrain ship=true)"
            )
    atomic_write_json(target / manifest_name, manifest)
    return True
