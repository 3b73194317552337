"""The locks: the venv is the CPU lock, drift is one line, and the two locks agree."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement

LOCK_DIR = Path(__file__).resolve().parents[2] / "lock"
CUDA_ONLY = re.compile(r"^(nvidia-.*|cuda-.*|triton|torchvision)$")


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"lock_{name}", LOCK_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check = _module("check")
resolve = _module("resolve")


def test_this_environment_is_the_cpu_lock():
    import torch

    if torch.version.cuda is not None:
        pytest.skip("a CUDA venv is checked against lock/cuda.txt by `make setup`")
    assert check.check(LOCK_DIR / "cpu.txt") is None


def test_drift_is_one_line_that_names_each_difference_and_the_repair(tmp_path):
    pins, python = check.read_lock(LOCK_DIR / "cpu.txt")
    drifted = dict(pins)
    drifted["filelock"] = "4.3.1"
    drifted["not-installed-pkg"] = "1.0"
    del drifted["tqdm"]
    lock = tmp_path / "lock.txt"
    lock.write_text(
        f"# python-version: {python}\n" + "".join(f"{n}=={v}\n" for n, v in drifted.items()),
        encoding="utf-8",
    )
    report = check.check(lock)
    assert report is not None and "\n" not in report
    assert f"filelock {pins['filelock']} (lock: 4.3.1)" in report
    assert "-not-installed-pkg (lock: 1.0)" in report
    assert f"+tqdm {pins['tqdm']} (not in the lock)" in report
    assert "make sync" in report
    assert check.main(["--lock", str(lock), "--extras"]) == 0


def test_another_python_is_refused_before_comparing(tmp_path):
    lock = tmp_path / "lock.txt"
    lock.write_text("# python-version: 2.7\nsix==1.0\n", encoding="utf-8")
    assert "resolved for Python 2.7" in check.check(lock)


def test_a_malformed_lock_line_names_its_line(tmp_path):
    lock = tmp_path / "lock.txt"
    lock.write_text("six==1.0\nnumpy>=2\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"lock.txt:2: expected name==version"):
        check.read_lock(lock)


def test_the_cuda_lock_is_the_cpu_lock_with_cuda_torch():
    cpu, cpu_python = check.read_lock(LOCK_DIR / "cpu.txt")
    cuda, cuda_python = check.read_lock(LOCK_DIR / "cuda.txt")
    assert cpu_python == cuda_python
    assert cpu["torch"].endswith("+cpu") and cuda["torch"] == resolve.public_version(cpu["torch"])
    assert "torchvision" not in cpu  # never on CPU torch
    for name in set(cpu) | set(cuda):
        if name == "torch":
            continue
        if name not in cpu:
            assert CUDA_ONLY.match(name), f"{name} is only in the CUDA lock"
        else:
            assert cuda.get(name) == cpu[name], f"{name}: cpu {cpu[name]}, cuda {cuda.get(name)}"


@pytest.mark.parametrize("lock_name", ["cpu.txt", "cuda.txt"])
def test_hand_pins_hold_in_the_locks_with_their_reasons(lock_name):
    text = (LOCK_DIR / lock_name).read_text(encoding="utf-8")
    pins, _ = check.read_lock(LOCK_DIR / lock_name)
    reasons = resolve.pin_reasons()
    assert {"torch", "filelock", "sentencepiece"} <= set(reasons)
    for line in (LOCK_DIR / "constraints.txt").read_text(encoding="utf-8").splitlines():
        requirement = line.split("#", 1)[0].strip()
        if not requirement:
            continue
        req = Requirement(requirement)
        name = check.normalise(req.name)
        version = resolve.public_version(pins[name])
        assert req.specifier.contains(version, prereleases=True), (name, version, req)
        assert f"  # {reasons[name]}" in next(
            line for line in text.splitlines() if check.normalise(line.split("==")[0]) == name
        )
