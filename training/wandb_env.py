"""W&B environment for a run: offline by default, every W&B file inside the run directory.

Call `wandb_env(run_dir)` before `wandb.init` (or before creating Lightning's WandbLogger).
Runs land in <run_dir>/wandb/offline-run-*; sync them later with `wandb sync <that dir>`.
W&B's service keeps sockets and staging folders in the temp dir and leaves some behind even
after a clean exit, so TMPDIR points into the run directory too (<run_dir>/wandb/.tmp).

The service starts once per process and reads TMPDIR then: every later run of the process must
keep that temp dir (with another one, its system monitor waits 8 s for a port file written
elsewhere, on every run). So the first run pins it (SERVICE_TMPDIR, inherited by workers), and a
stage executor pins its store's tmp before any run (`pin_service_tmpdir`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping, MutableMapping
from pathlib import Path

WANDB_MODES = ("offline", "online", "disabled")
SERVICE_TMPDIR = "VLMDATA_WANDB_TMPDIR"  # the temp dir of this process's W&B service


def pin_service_tmpdir(path: str | os.PathLike) -> str:
    """The temp dir every W&B run of this process uses: `path`, unless one is pinned already
    (by an earlier run, or inherited from the parent process)."""
    pinned = os.environ.get(SERVICE_TMPDIR)
    if pinned is None or ("wandb" not in sys.modules and not Path(pinned).is_dir()):
        pinned = str(Path(path).resolve())
        os.environ[SERVICE_TMPDIR] = pinned
    return pinned


def wandb_env_vars(run_dir: str | os.PathLike, mode: str = "offline") -> dict[str, str]:
    """The environment variables that keep W&B inside `run_dir` (nothing in $HOME)."""
    if mode not in WANDB_MODES:
        raise ValueError(f"wandb mode must be one of {'|'.join(WANDB_MODES)}, got {mode!r}")
    root = Path(run_dir).resolve()
    own = root / "wandb"  # W&B puts its runs in <WANDB_DIR>/wandb/ when that folder exists
    return {
        "WANDB_MODE": mode,
        "WANDB_DIR": str(root),
        "WANDB_CACHE_DIR": str(own / ".cache"),
        "WANDB_CONFIG_DIR": str(own / ".config"),
        "WANDB_DATA_DIR": str(own / ".data"),
        "WANDB_ARTIFACT_DIR": str(own / ".artifacts"),
        "TMPDIR": pin_service_tmpdir(own / ".tmp"),
        "WANDB_SILENT": "true",
        "WANDB_CONSOLE": "off",
    }


def wandb_env(
    run_dir: str | os.PathLike,
    mode: str = "offline",
    environ: MutableMapping[str, str] | None = None,
) -> dict[str, str]:
    """Set the variables of `wandb_env_vars` in `os.environ` (or `environ`), creating the dirs;
    returns what was set. Must run before wandb is imported: it reads TMPDIR once."""
    target = os.environ if environ is None else environ
    values = wandb_env_vars(run_dir, mode)
    for key in (
        "WANDB_DIR",
        "WANDB_CACHE_DIR",
        "WANDB_CONFIG_DIR",
        "WANDB_DATA_DIR",
        "WANDB_ARTIFACT_DIR",
        "TMPDIR",
    ):
        Path(values[key]).mkdir(parents=True, exist_ok=True)
    target.update(values)
    if target is os.environ:
        tempfile.tempdir = None  # re-read TMPDIR on the next tempfile call
    return values


@contextlib.contextmanager
def scoped_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of a block, then restore the old ones."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    tempfile.tempdir = None  # TMPDIR may be among them
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        tempfile.tempdir = None
