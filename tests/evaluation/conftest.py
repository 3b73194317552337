"""Shared, session-scoped inputs: one exported tiny checkpoint and the local benchmark data."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"

TOKENIZER_TEXTS = [
    "What colour is the circle? Answer the question using a single word or phrase.",
    "Is there a red square in the image? Yes No. How many shapes are there? 1 2 3 4",
    "Which shape is left of the star? A. circle B. square C. triangle D. heart",
    "Describe the image briefly. A blue triangle above a green star.",
] * 5


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny LLaVA exported as evaluation receives it (training.export)."""
    from training.export import export_hf
    from training.models import build_tiny_llava

    model, processor = build_tiny_llava(TOKENIZER_TEXTS, seed=0)
    return export_hf(model, processor, tmp_path_factory.mktemp("checkpoint") / "hf")


@pytest.fixture
def checkpoint_without_template(tiny_checkpoint: Path, tmp_path: Path) -> Path:
    import json

    target = shutil.copytree(tiny_checkpoint, tmp_path / "no_template")
    (target / "chat_template.jinja").unlink()
    for name in ("tokenizer_config.json", "processor_config.json"):
        path = target / name
        config = json.loads(path.read_text())
        config.pop("chat_template", None)
        path.write_text(json.dumps(config))
    return target


@pytest.fixture(scope="session")
def real_data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few items of each real benchmark in its hub schema: <root>/<task>/<split>.parquet."""
    real_tasks = load_fixture_module("real_tasks")
    return real_tasks.write_real_task_fixtures(tmp_path_factory.mktemp("real_tasks"))


def load_fixture_module(name: str):
    """tests/evaluation/fixtures/<name>.py, by path (site-packages ships a `tests` package)."""
    spec = importlib.util.spec_from_file_location(
        f"vlmdata_eval_fixture_{name}", FIXTURES / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def toyworld_bench_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """<root>/benchmarks/<skill>.parquet in make_world's schema (a world's benchmarks only)."""
    toyworld_bench = load_fixture_module("toyworld_bench")
    return toyworld_bench.write_toyworld_benchmarks(tmp_path_factory.mktemp("world"))


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to reach another machine fails the test (local sockets, as W&B's service
    uses, are allowed)."""
    import socket

    connect = socket.socket.connect

    def local_only(sock, address, *args, **kwargs):
        if sock.family != socket.AF_UNIX:
            raise AssertionError(f"network access attempted: {address}")
        return connect(sock, address, *args, **kwargs)

    def refuse(host, *args, **kwargs):
        raise AssertionError(f"network access attempted: resolving {host}")

    monkeypatch.setattr(socket.socket, "connect", local_only)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """The tiny models run fastest on one thread, and CI boxes are shared."""
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)
