"""A curated subset on disk: the contract between curation and training.

    <dir>/indices.npy     int64 positions into the pool, in selection order (COINCIDE-compatible)
    <dir>/subset.json     the selected LLaVA records (pool records at `indices`, then any
                          synthetic records), a drop-in for LLaVA's own train.py
    <dir>/manifest.json   provenance: method, resolved config, pool sha256 and image root,
                          seed, counts, timings, package version, method-specific details

The directory is built under a temporary name and renamed into place when complete, so a
crash never leaves a directory (or file) under the finished name. indices.npy and subset.json
are byte-identical for the same inputs; manifest.json also records when and how long.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from configs.errors import UserError
from curation.data.fileio import atomic_directory, atomic_write_json, sha256_file
from curation.data.records import write_records

INDICES = "indices.npy"
RECORDS = "subset.json"
MANIFEST = "manifest.json"
WORK_SUFFIX = ".work"  # curation's work folder beside a subset: <dir>.work (see curation.run)


class SubsetError(UserError, ValueError):
    """A subset that cannot be written or read as asked."""


@dataclass(frozen=True)
class Subset:
    path: Path
    indices: np.ndarray
    manifest: dict[str, Any]

    @property
    def records_path(self) -> Path:
        return self.path / RECORDS

    def __len__(self) -> int:
        return int(self.manifest["counts"]["selected"])


def write_subset(
    out_dir: str | Path,
    *,
    method: str,
    indices: Sequence[int] | np.ndarray,
    records: Sequence[Mapping[str, Any]],
    pool_path: str | Path,
    pool_size: int,
    config: Mapping[str, Any],
    seed: int | None,
    synthetic_records: Sequence[Mapping[str, Any]] = (),
    timings: Mapping[str, float] | None = None,
    details: Mapping[str, Any] | None = None,
    pool_sha256: str | None = None,
    device: str | None = None,
    image_root: str | Path | None = None,
) -> Subset:
    """Write a subset directory atomically and return it.

    `records` are the pool records at `indices` (positions in the pool file), in the same
    order; `synthetic_records` follow them in subset.json. `details` holds method-specific
    provenance (allocations, score summaries, ...). `timings` (seconds) and `device` (what the
    selection ran on, curation.data.device) are its cost. `image_root`: the folder the pool's
    image paths are relative to, kept (absolute) so that the subset's readers need not be told.
    """
    n_pool = pool_size
    idx = _check_indices(indices, n_pool)
    if len(records) != idx.size:
        raise SubsetError(f"{len(records)} records for {idx.size} indices: they must match")
    records = list(records) + list(synthetic_records)
    pool_path = Path(pool_path)
    manifest: dict[str, Any] = {
        "method": method,
        "seed": seed,
        "counts": {
            "pool": n_pool,
            "from_pool": int(idx.size),
            "synthetic": len(synthetic_records),
            "selected": len(records),
            "fraction_of_pool": (len(records) / n_pool) if n_pool else 0.0,
        },
        "pool": {
            "path": str(pool_path),
            "sha256": pool_sha256 or sha256_file(pool_path),
            "image_root": str(Path(image_root).resolve()) if image_root else None,
        },
        "config": dict(config),
        "timings_s": dict(timings or {}),
        **({} if device is None else {"device": device}),
        "details": dict(details or {}),
        "package": package_provenance(),
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    out_dir = Path(out_dir)
    with atomic_directory(out_dir) as tmp:
        with open(tmp / INDICES, "wb") as handle:
            np.save(handle, idx, allow_pickle=False)
        write_records(tmp / RECORDS, records)
        manifest["sha256"] = {
            INDICES: sha256_file(tmp / INDICES),
            RECORDS: sha256_file(tmp / RECORDS),
        }
        # The manifest goes last: a directory with a manifest is a finished subset.
        atomic_write_json(tmp / MANIFEST, manifest)
    return Subset(out_dir, idx, manifest)


def read_subset(path: str | Path) -> Subset:
    """A finished subset; SubsetError (one line naming the file) when it is not one."""
    path = Path(path)
    for name in (INDICES, RECORDS, MANIFEST):
        if not (path / name).is_file():
            raise SubsetError(f"{path}: not a finished subset (missing {name})")
    return Subset(path, _read_indices(path / INDICES), _read_manifest(path / MANIFEST))


def _read_indices(file: Path) -> np.ndarray:
    try:
        with open(file, "rb") as handle:
            indices = np.load(handle, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:  # object arrays, pickles, bad headers
        raise SubsetError(f"{file}: not a readable .npy array: {_first_line(err)}") from None
    if not isinstance(indices, np.ndarray) or indices.dtype != np.int64 or indices.ndim != 1:
        found = f"{indices.dtype}{indices.shape}" if isinstance(indices, np.ndarray) else "no array"
        raise SubsetError(f"{file}: expected a 1-D int64 array, got {found}")
    return indices


# what readers of a manifest rely on: key -> (type, its own keys and their types)
_MANIFEST_SHAPE: dict[str, tuple[type, dict[str, type]]] = {
    "method": (str, {}),
    "pool": (dict, {"path": str, "sha256": str}),
    "counts": (dict, {"selected": int}),
}


def _read_manifest(file: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as err:  # ValueError: bad JSON or UTF-8
        raise SubsetError(f"{file}: not a readable manifest: {_first_line(err)}") from None
    if not isinstance(manifest, dict):
        raise SubsetError(f"{file}: not a readable manifest: the top level is not an object")
    for key, (kind, fields) in _MANIFEST_SHAPE.items():
        value = manifest.get(key)
        bad = not isinstance(value, kind) or any(
            not isinstance(value.get(name), of) for name, of in fields.items()
        )
        if bad:
            shape = kind.__name__ + (f" with {', '.join(fields)}" if fields else "")
            raise SubsetError(f"{file}: '{key}' is missing or not a {shape}")
    return manifest


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def subset_image_root(subset: Subset) -> Path | None:
    """The image root of the pool a subset was drawn from, as its manifest names it: the
    pool's `image_root`, else (a writer that did not pass it) the `data.image_root` of the
    resolved config `vlmdata curate` saves; None when neither names one."""
    root = subset.manifest.get("pool", {}).get("image_root")
    if not root:
        data = subset.manifest.get("config", {}).get("data")
        root = data.get("image_root") if isinstance(data, dict) else None
    if not isinstance(root, str) or not root:
        return None
    return Path(root).expanduser()


def work_dir(path: str | Path) -> Path:
    """The work folder beside a subset directory; ADR's synthetic images live in it, and its
    records name them by absolute path."""
    path = Path(path)
    return path.with_name(path.name + WORK_SUFFIX)


def is_finished(path: str | Path) -> bool:
    path = Path(path)
    return all((path / name).is_file() for name in (INDICES, RECORDS, MANIFEST))


def _check_indices(indices: Sequence[int] | np.ndarray, n_pool: int) -> np.ndarray:
    idx = np.asarray(indices)
    if idx.ndim != 1:
        raise SubsetError(f"indices must be 1-D, got shape {idx.shape}")
    if idx.size and not np.issubdtype(idx.dtype, np.integer):
        raise SubsetError(f"indices must be integers, got {idx.dtype}")
    idx = idx.astype(np.int64, copy=False)
    if idx.size and (idx.min() < 0 or idx.max() >= n_pool):
        bad = int(idx[(idx < 0) | (idx >= n_pool)][0])
        raise SubsetError(f"index {bad} is outside the pool of {n_pool} records")
    if np.unique(idx).size != idx.size:
        raise SubsetError(
            "indices contain duplicates; a subset selects each pool record at most once"
        )
    return idx


@functools.lru_cache(maxsize=1)
def package_provenance() -> dict[str, Any]:
    try:
        version = metadata.version("vlmdata")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return {"name": "vlmdata", "version": version, "git_commit": _git_commit()}


def _git_commit() -> str | None:
    repo = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None
