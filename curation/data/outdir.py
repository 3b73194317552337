"""Output directories: what a command may write, and one writer at a time.

    with claim_output(out_dir, kind=..., owned=..., force=..., inputs=...) as path:
        ...   # write path

`claim_output` refuses, even with force, a target that would take a user's data or an input with
it: the filesystem root, the home directory, the working directory, a path spelt with a final
`..`, and any input or a folder above one. It takes the directory's lock (below), then refuses
a directory that is neither empty nor recognised by `owned` as this command's own output, unless
the user passed --force. Last, it removes the temporaries that killed writers of this output
left beside it (curation.data.fileio's `.tmp-<name>.*`).

The lock is a file beside the directory, `.<name>.lock`, created with O_CREAT|O_EXCL (atomic
on NFS too, unlike flock) and holding the writer's pid, host, start time and SLURM job id. A
second writer fails at once, naming the holder. A lock is taken over when its holder is a dead
process on this host, or the same SLURM job (a requeued task). The same process may take a
lock it holds again (a plan stage's lock, then the command's own).

Training and evaluation also record which config wrote a run directory (`RUN_MARKER`):
`check_run` tells whether the directory holds a run of the same key, and refuses another
config's run unless forced.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from configs.errors import UserError
from curation.data.fileio import TMP_PREFIX, atomic_write_json, remove_stale_tmp

FORCE = "--force"
RUN_MARKER = ".vlmdata-run.json"
LOCK_SUFFIX = ".lock"
# A lock file without a readable holder is one being written, or one whose writer died between
# creating and filling it: after this many seconds it is the latter.
UNREADABLE_LOCK_S = 30.0

_held: dict[str, tuple[int, float]] = {}  # lock path -> (depth, acquired at) in this process


class OutputDirError(UserError, FileExistsError):
    """An output directory that must not be written as asked (one line naming it)."""


class OutputLockedError(OutputDirError):
    """Another process is writing the output directory."""


@contextlib.contextmanager
def claim_output(
    out_dir: str | os.PathLike,
    *,
    kind: str,
    owned: Callable[[Path], bool],
    force: bool = False,
    replaces: bool = False,
    inputs: Mapping[str, str | os.PathLike | None] | None = None,
    ignore: Iterable[str] = (),
    clean: Iterable[str] = (),
) -> Iterator[Path]:
    """Check, lock and clean `out_dir` for one run of a command; yields its absolute path.

    kind: what the command writes, for messages ("subset", "training run"). owned(path): whether
    an existing directory is this command's own output. replaces: the command replaces the
    directory as a whole (else it writes into it). inputs: name -> path of what the command
    reads. ignore: entry names that do not count as foreign content (a plan stage's log).
    clean: folders inside the output ("." itself) whose temporaries are killed writers'.
    """
    path = check_target(out_dir, inputs or {})
    with output_lock(path) as started:
        refuse_foreign(path, kind, owned, force, replaces, ignore)
        remove_stale_tmp(path.parent, before=started, name=path.name)
        for folder in clean:
            remove_stale_tmp(path / folder, before=started)
        yield path


def check_target(
    out_dir: str | os.PathLike, inputs: Mapping[str, str | os.PathLike | None]
) -> Path:
    """The absolute output path, or OutputDirError for one never written, even with --force."""
    spelt = str(out_dir)
    if Path(spelt).name in ("", ".."):
        raise OutputDirError(
            f"out_dir={spelt} names no folder of its own (/, . or ..); "
            "choose a new folder for the output"
        )
    path = Path(spelt).expanduser().resolve()
    blocking = blocking_file(path)
    if blocking is not None and blocking != path:
        raise OutputDirError(
            f"out_dir {path}: {blocking} is a file, not a directory; choose another out_dir"
        )
    protected = {
        "the home directory": Path.home(),
        "the working directory": Path.cwd(),
        **{name: p for name, p in inputs.items() if p},
    }
    for name, other in protected.items():
        other = Path(other).expanduser().resolve()
        if other == path or path in other.parents:
            where = "is" if other == path else "holds"
            raise OutputDirError(
                f"out_dir {path} {where} {name} ({other}); refusing to write "
                "there, even with --force: choose another out_dir"
            )
    return path


def blocking_file(path: Path) -> Path | None:
    """`path` or its nearest existing ancestor when that one is not a directory (a folder
    cannot be made there), else None."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return None if candidate.is_dir() else candidate
    return None


def refuse_foreign(
    path: Path,
    kind: str,
    owned: Callable[[Path], bool],
    force: bool,
    replaces: bool,
    ignore: Iterable[str] = (),
) -> None:
    if not path.exists():
        return
    if not path.is_dir():
        raise OutputDirError(
            f"out_dir {path} exists and is not a directory; choose another out_dir"
        )
    if force or is_empty(path, ignore) or owned(path):
        return
    verb = "replace" if replaces else "write into"
    raise OutputDirError(
        f"out_dir {path} is not empty and holds no {kind} of vlmdata; refusing "
        f"to {verb} it: choose another out_dir, or add {FORCE} to {verb} it "
        "anyway"
    )


def is_empty(path: Path, ignore: Iterable[str] = ()) -> bool:
    """No entries but killed writers' temporaries (and the names in `ignore`)."""
    ignore = set(ignore)
    return all(e.name.startswith(TMP_PREFIX) or e.name in ignore for e in path.iterdir())


# --- which config wrote a run directory


def check_run(
    path: Path, kind: str, key: str, identity: Mapping[str, Any], force: bool = False
) -> bool:
    """Whether `path` holds a run of `kind` with this `key` (so it may be resumed or reused).

    Another key's run is OutputDirError naming the keys that differ, unless `force` (the
    caller then discards it).
    """
    recorded = read_run(path)
    if recorded is None or recorded.get("kind") != kind:
        return False
    if recorded.get("key") == key:
        return True
    if force:
        return False
    changed = [
        k.removeprefix("config.") for k in differing_keys(recorded.get("identity") or {}, identity)
    ]
    shown = ", ".join(changed[:5]) + (", ..." if len(changed) > 5 else "")
    raise OutputDirError(
        f"out_dir {path} holds another config's {kind} (differs in: "
        f"{shown or 'the inputs'}); it is never resumed or reused for this one: "
        f"choose another out_dir, or add {FORCE} to discard it and start afresh"
    )


def read_run(path: Path) -> dict[str, Any] | None:
    try:
        recorded = json.loads((path / RUN_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return recorded if isinstance(recorded, dict) else None


def has_run(path: Path, kind: str) -> bool:
    recorded = read_run(path)
    return recorded is not None and recorded.get("kind") == kind


def write_run(path: Path, kind: str, key: str, identity: Mapping[str, Any]) -> None:
    """Record which config owns `path`; a run resumed or reused under its own key keeps the
    record it was created with."""
    recorded = read_run(path)
    if recorded is not None and recorded.get("kind") == kind and recorded.get("key") == key:
        return
    atomic_write_json(
        path / RUN_MARKER, {"kind": kind, "key": key, "created": _now(), "identity": dict(identity)}
    )


def discard(path: Path, names: Iterable[str]) -> None:
    """Remove these entries of `path` (another config's run, replaced under --force)."""
    for name in names:
        entry = path / name
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()


def differing_keys(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested dicts."""
    changed = []
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key), new.get(key)
        dotted = f"{prefix}{key}"
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            changed += differing_keys(a, b, dotted + ".")
        elif a != b:
            changed.append(dotted)
    return changed


# --- one writer per directory


def lock_path(path: Path) -> Path:
    return path.with_name(f".{path.name}{LOCK_SUFFIX}")


@contextlib.contextmanager
def output_lock(path: str | os.PathLike) -> Iterator[float]:
    """Hold `path`'s lock for the block; yields the time it was taken (time.time())."""
    lock = lock_path(Path(path).resolve())
    depth, started = _held.get(str(lock), (0, 0.0))
    if depth == 0:
        lock.parent.mkdir(parents=True, exist_ok=True)
        me = _acquire(lock)
        started = me["time"]
    _held[str(lock)] = (depth + 1, started)
    try:
        yield started
    finally:
        if depth == 0:
            del _held[str(lock)]
            _release(lock, me)
        else:
            _held[str(lock)] = (depth, started)


def _acquire(lock: Path, attempts: int = 20) -> dict[str, Any]:
    me = _holder()
    for _ in range(attempts):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _read_lock(lock)
            if holder is None:  # gone between the two calls: try again
                continue
            if not _stale(lock, holder, me):
                raise OutputLockedError(_locked_message(lock, holder)) from None
            _take_over(lock, holder)
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(me, handle)
            handle.flush()
            os.fsync(handle.fileno())
        return me
    raise OutputLockedError(f"could not take the lock {lock}: other processes keep taking it")


def _release(lock: Path, me: dict[str, Any]) -> None:
    holder = _read_lock(lock)
    if isinstance(holder, dict) and holder.get("token") == me["token"]:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()


def _holder() -> dict[str, Any]:
    now = time.time()
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": _now(),
        "time": now,
        "slurm_job_id": os.environ.get("SLURM_JOB_ID") or None,
        "process_start": _process_start(os.getpid()),
        "token": uuid.uuid4().hex,
    }


def _read_lock(lock: Path) -> dict[str, Any] | str | None:
    """The holder; "" for a lock that exists but says nothing readable; None for no lock."""
    try:
        text = lock.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        return ""
    try:
        holder = json.loads(text)
    except ValueError:
        return ""
    return holder if isinstance(holder, dict) else ""


def _stale(lock: Path, holder: dict[str, Any] | str, me: dict[str, Any]) -> bool:
    if not isinstance(holder, dict):
        try:
            return time.time() - lock.stat().st_mtime > UNREADABLE_LOCK_S
        except FileNotFoundError:
            return True
    if holder.get("slurm_job_id") and holder.get("slurm_job_id") == me["slurm_job_id"]:
        return True  # the same SLURM job, requeued: its earlier run is over
    if holder.get("host") != me["host"]:
        return False  # another machine's process: nothing here tells whether it lives
    return not _alive(int(holder.get("pid", -1)), holder.get("process_start"))


def _alive(pid: int, process_start: str | None) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process
    # a recycled pid is another process: its start time differs
    current = _process_start(pid)
    return process_start is None or current is None or current == process_start


def _process_start(pid: int) -> str | None:
    """The process's start time since boot (Linux /proc), to tell a recycled pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def _take_over(lock: Path, holder: dict[str, Any] | str) -> None:
    """Remove a stale lock, unless another process replaced it meanwhile.

    Two processes that both found it stale must not both remove it (the second would remove
    the first one's new lock): a guard file created with O_EXCL lets one re-check and remove.
    """
    guard = lock.with_name(lock.name + ".takeover")
    try:
        fd = os.open(guard, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        with contextlib.suppress(FileNotFoundError):
            if time.time() - guard.stat().st_mtime > UNREADABLE_LOCK_S:
                guard.unlink()  # its owner died while taking over
        time.sleep(0.05)
        return
    try:
        if _read_lock(lock) == holder:
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()
    finally:
        os.close(fd)
        guard.unlink()


def _locked_message(lock: Path, holder: dict[str, Any] | str) -> str:
    out_dir = lock.with_name(lock.name[1 : -len(LOCK_SUFFIX)])
    if not isinstance(holder, dict):
        who = "a process that is still writing its lock"
    else:
        slurm = f", SLURM job {holder['slurm_job_id']}" if holder.get("slurm_job_id") else ""
        who = (
            f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('started')}{slurm}"
        )
    return (
        f"out_dir {out_dir} is being written by another run ({who}); wait for it to finish, "
        f"or delete {lock} if that run is gone"
    )


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
