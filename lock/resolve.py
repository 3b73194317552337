"""`make lock`: re-resolve every dependency and write lock/cpu.txt and lock/cuda.txt.

    python3 lock/resolve.py

CPU lock: a throw-away virtualenv gets `pip install -c lock/constraints.txt -e '.[dev]'` exactly as
a user's set-up would resolve it today (the machine's pip configuration included, which is where
the CPU torch wheel comes from), torchvision is removed (see lock/constraints.txt), and every
installed distribution but pip and vlmdata itself is written as `name==version`.

CUDA lock: the same set with torch's public CUDA build (and torchvision, which lmms-eval and timm
require and which is harmless next to a CUDA torch of the same release). pip resolves
`torch==2.13.0` plus every other CPU-lock pin against the public index only (`--isolated`:
no local wheel folders), as a dry run that downloads no wheel, so it works on a machine
without a GPU.

Both locks record the Python version they were resolved for; lock/check.py refuses a venv of
another version.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

LOCK_DIR = Path(__file__).resolve().parent
REPO = LOCK_DIR.parent
CONSTRAINTS = LOCK_DIR / "constraints.txt"
NEVER = {"pip", "vlmdata"}  # the venv's own pip and the project itself


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pin_reasons(path: Path = CONSTRAINTS) -> dict[str, str]:
    """{package: reason} from `name<spec>  # reason` lines of the constraints file."""
    reasons = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        requirement, _, comment = line.partition("#")
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
        if match and comment.strip():
            reasons[normalise(match.group(1))] = comment.strip()
    return reasons


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, **kwargs)


def resolve_cpu(python: str, workdir: Path) -> tuple[dict[str, str], str]:
    """Install the project into a fresh venv under the constraints; return ({name: version}, py)."""
    venv = workdir / "venv"
    run([python, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    run([*pip, "install", "--quiet", "-c", str(CONSTRAINTS), "-e", f"{REPO}[dev]"], cwd=REPO)
    run([*pip, "uninstall", "--quiet", "-y", "torchvision"])
    listed = run([*pip, "list", "--format=json"], capture_output=True, text=True).stdout
    versions = {
        item["name"]: item["version"]
        for item in json.loads(listed)
        if normalise(item["name"]) not in NEVER
    }
    py = run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')",
        ],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return versions, py


def resolve_cuda(cpu: dict[str, str], python: str, workdir: Path) -> dict[str, str]:
    """The CPU set with the public (CUDA) torch build and whatever that build depends on."""
    wanted = workdir / "cuda-requirements.txt"
    lines = [f"{name}=={public_version(version)}" for name, version in sorted(cpu.items())]
    wanted.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = workdir / "cuda-report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--isolated",
            "--disable-pip-version-check",
            "--dry-run",
            "--ignore-installed",
            "--quiet",
            "--report",
            str(report),
            "-r",
            str(wanted),
        ],
        env=env,
    )
    installed = json.loads(report.read_text(encoding="utf-8"))["install"]
    return {
        item["metadata"]["name"]: item["metadata"]["version"]
        for item in installed
        if normalise(item["metadata"]["name"]) not in NEVER
    }


def public_version(version: str) -> str:
    """2.13.0+cpu -> 2.13.0: the local label names the CPU wheel, which the public index lacks."""
    return version.split("+", 1)[0]


def write_lock(path: Path, versions: dict[str, str], py: str, flavour: str) -> None:
    reasons = pin_reasons()
    today = dt.date.today().isoformat()
    header = [
        f"# vlmdata {flavour} lock: every package of the environment at an exact version.",
        f"# Python {py}. Produced by `make lock` (python3 lock/resolve.py) on {today}, from",
        "# pyproject.toml (with the dev extra) under lock/constraints.txt; do not edit by hand.",
        "# Installed with `pip install --no-deps -r` by `make setup`"
        + (" LOCK=lock/cuda.txt" if flavour == "CUDA" else "")
        + "; lock/check.py compares",
        "# the venv with it. Pins with a reason are the hand-written ones of lock/constraints.txt.",
        f"# python-version: {py}",
    ]
    body = []
    for name in sorted(versions, key=normalise):
        line = f"{name}=={versions[name]}"
        reason = reasons.get(normalise(name))
        body.append(f"{line}  # {reason}" if reason else line)
    path.write_text("\n".join(header + body) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(REPO)}: {len(body)} packages")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default="python3", help="interpreter the venv is made with")
    parser.add_argument("--skip-cuda", action="store_true", help="write lock/cpu.txt only")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vlmdata-lock-") as tmp:
        cpu, py = resolve_cpu(args.python, Path(tmp))
        if not args.skip_cuda:
            cuda = resolve_cuda(cpu, str(Path(tmp) / "venv" / "bin" / "python"), Path(tmp))
    write_lock(LOCK_DIR / "cpu.txt", cpu, py, "CPU")
    if not args.skip_cuda:
        write_lock(LOCK_DIR / "cuda.txt", cuda, py, "CUDA")
    return 0


if __name__ == "__main__":
    sys.exit(main())
