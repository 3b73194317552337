"""Is this virtualenv exactly the lock? One line and exit 1 if not.

    .venv/bin/python lock/check.py [--lock lock/cpu.txt] [--extras]

Compares the distributions installed in the running interpreter's environment with the lock,
ignoring only the venv's own pip and the editable vlmdata. Run by every `make setup`, so a
drifted or hand-modified venv is reported before any test or demo job starts. `--extras` prints
the installed packages the lock does not list, one per line, for `make sync` to uninstall.
Standard library only: it has to work in a broken environment.
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib.metadata import distributions
from pathlib import Path

IGNORED = {"pip", "vlmdata"}
REPAIR = "repair with `make sync` (reinstalls the venv from the lock)"


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> tuple[dict[str, str], str | None]:
    """({normalised name: version}, python-version) from a lock file."""
    pins, python = {}, None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("# python-version:"):
            python = line.split(":", 1)[1].strip()
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        name, sep, version = text.partition("==")
        if not sep or not name.strip() or not version.strip():
            raise ValueError(f"{path}:{number}: expected name==version, got {text!r}")
        pins[normalise(name.strip())] = version.strip()
    return pins, python


def installed() -> dict[str, str]:
    found = {}
    for dist in distributions():
        name = dist.metadata["Name"]
        if name and normalise(name) not in IGNORED:
            found[normalise(name)] = dist.version
    return found


def differences(pins: dict[str, str], present: dict[str, str]) -> list[str]:
    diffs = []
    for name in sorted(set(pins) | set(present)):
        want, have = pins.get(name), present.get(name)
        if want is None:
            diffs.append(f"+{name} {have} (not in the lock)")
        elif have is None:
            diffs.append(f"-{name} (lock: {want})")
        elif want != have:
            diffs.append(f"{name} {have} (lock: {want})")
    return diffs


def check(lock: Path) -> str | None:
    """None when the environment is the lock; otherwise the one-line report."""
    pins, python = read_lock(lock)
    running = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if python and python != running:
        return (
            f"{lock} was resolved for Python {python}, this venv runs {running}: "
            f"re-resolve with `make lock PYTHON=python{running}` or use Python {python}"
        )
    diffs = differences(pins, installed())
    if not diffs:
        return None
    shown = ", ".join(diffs[:6]) + (f" and {len(diffs) - 6} more" if len(diffs) > 6 else "")
    return f"{sys.prefix} differs from {lock}: {shown}; {REPAIR}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lock", type=Path, default=Path(__file__).resolve().parent / "cpu.txt")
    parser.add_argument(
        "--extras", action="store_true", help="print installed packages that the lock does not list"
    )
    args = parser.parse_args(argv)
    if args.extras:
        pins, _ = read_lock(args.lock)
        for name in sorted(set(installed()) - set(pins)):
            print(name)
        return 0
    problem = check(args.lock)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    print(f"environment matches {args.lock.name} ({len(read_lock(args.lock)[0])} packages)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
