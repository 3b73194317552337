"""Fixtures that tests in more than one folder use: the library's tests (tests/training,
tests/evaluation, tests/curation) and the CLI's (tests/experiments) that drive the same inputs.

Helpers come as fixtures (tests import nothing from here: site-packages ships a `tests` package).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image

from configs.compose import compose, config_path, to_object
from curation.data.records import write_records as write_pool_records
from training.config import TrainingConfig


def pytest_addoption(parser: pytest.Parser) -> None:
    # Golden files (tests/<mirror path>/golden/*.json) are rewritten from today's outputs only
    # when asked: a change that moves a golden value must be intended, and the diff reviewed.
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite the golden files under tests/**/golden/ from the current outputs",
    )


@pytest.fixture(scope="session")
def update_golden(request: pytest.FixtureRequest) -> bool:
    """True under `pytest --update-golden`: golden tests write their expected values instead of
    comparing against them."""
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture(scope="session")
def one_torch_thread() -> Iterator[None]:
    """The tiny models run fastest on one thread, and CI boxes are shared (two threads on a busy
    2-core machine spin-wait for each other). tests/training and tests/evaluation use it for
    every test; a CLI test that runs a model in-process asks for it."""
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


# --- training inputs: tiny-model configs and small record files ----------------------------

# Test-speed settings on top of configs/training/tiny.yaml (same code paths as a real run, but
# the from-scratch tiny model instead of a world's foundation: these tests train on made-up
# records; tests/training/foundation/ covers model.foundation).
FAST = [
    "model.kind=tiny",
    "wandb.mode=disabled",
    "trainer.progress_bar=false",
    "trainer.log_every_n_steps=10",
    "model.model_max_length=256",
]


def _tiny_config(out_dir: Path, *overrides: str) -> TrainingConfig:
    return to_object(
        compose(
            TrainingConfig,
            config_path("training", "tiny"),
            [f"out_dir={out_dir}", *FAST, *overrides],
        )
    )


def _image_records(root: Path, n: int) -> list[dict]:
    """`n` records with a 32x24 PNG each under root/img/ (colour questions) + one text-only."""
    (root / "img").mkdir(parents=True, exist_ok=True)
    colours = {"red": (220, 20, 20), "green": (20, 200, 20), "blue": (20, 20, 220)}
    records: list[dict] = []
    for i in range(n):
        name = list(colours)[i % 3]
        Image.new("RGB", (32, 24), colours[name]).save(root / "img" / f"{i}.png")
        records.append(
            {
                "id": f"r{i}",
                "image": f"img/{i}.png",
                "conversations": [
                    {"from": "human", "value": "<image>\nWhat colour is it?"},
                    {"from": "gpt", "value": name},
                ],
            }
        )
    records.append(
        {
            "id": "text",
            "conversations": [
                {"from": "human", "value": "Say hi."},
                {"from": "gpt", "value": "hi"},
            ],
        }
    )
    return records


def _write_records(root: Path, records: list[dict]) -> Path:
    path = root / "records.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_config() -> Callable[..., TrainingConfig]:
    """tiny_config(out_dir, *overrides): configs/training/tiny.yaml at test speed."""
    return _tiny_config


@pytest.fixture(scope="session")
def image_records() -> Callable[[Path, int], list[dict]]:
    return _image_records


@pytest.fixture(scope="session")
def write_records() -> Callable[[Path, list[dict]], Path]:
    return _write_records


@pytest.fixture
def records(tmp_path, image_records, write_records) -> Path:
    """Six image records + one text-only in tmp_path (the `vlmdata train` out_dir tests)."""
    return write_records(tmp_path, image_records(tmp_path, 6))


@pytest.fixture
def escaping(tmp_path, image_records, write_records):
    """Records under root/ whose r1 names a real PNG outside the root by '..', r2 by absolute
    path."""
    root = tmp_path / "root"
    records = image_records(root, 3)
    Image.new("RGB", (8, 8), "white").save(tmp_path / "secret.png")
    records[1]["image"] = "../secret.png"
    records[2]["image"] = str(tmp_path / "secret.png")
    return root, records, write_records(root, records)


@pytest.fixture
def broken(tmp_path, image_records, write_records):
    """Six image records + one text-only; r1's image is missing, r4's is not an image."""
    records = image_records(tmp_path, 6)
    (tmp_path / "img" / "1.png").unlink()
    (tmp_path / "img" / "4.png").write_bytes(b"this is not a png")
    return write_records(tmp_path, records)


FIFTY_MB = 50 * 1024 * 1024


@pytest.fixture
def huge_pool(tmp_path: Path) -> Path:
    """A JSONL pool: one ordinary record, then one whose question is 50 MB of 'a'."""
    ordinary = {
        "id": "ok",
        "conversations": [{"from": "human", "value": "Say hi."}, {"from": "gpt", "value": "hi"}],
    }
    path = tmp_path / "pool.jsonl"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(ordinary) + "\n")
        handle.write('{"id": "huge", "conversations": [{"from": "human", "value": "')
        handle.write("a" * FIFTY_MB)
        handle.write('"}, {"from": "gpt", "value": "ok"}]}\n')
    return path


# --- curation inputs -----------------------------------------------------------------------


def _pool(n):
    return [
        {
            "id": f"r{i}",
            "conversations": [
                {"from": "human", "value": f"q{i}"},
                {"from": "gpt", "value": f"a{i}"},
            ],
        }
        for i in range(n)
    ]


@pytest.fixture
def pool_file(tmp_path):
    """(path, records): a 10-record text-only pool (the subset tests)."""
    records = _pool(10)
    path = tmp_path / "pool.json"
    write_pool_records(path, records)
    return path, records


def _write_pool_subset(out, pool_file, indices, **kw):
    from curation.data.subset import write_subset

    path, records = pool_file
    return write_subset(
        out,
        method="random",
        indices=indices,
        records=[records[i] for i in indices],
        pool_path=path,
        pool_size=len(records),
        config={"method": "random"},
        seed=3,
        **kw,
    )


@pytest.fixture(scope="session")
def write_pool_subset() -> Callable[..., object]:
    """write_pool_subset(out, pool_file, indices, **kw): a random-method subset of pool_file's
    records written to out (curation.data.subset.write_subset), seed 3."""
    return _write_pool_subset


@pytest.fixture(scope="module")
def toyworld(tmp_path_factory):
    """An 800-sample ToyWorld with real long tails, built once per module (the ADR tests)."""
    from toyworld.config import ToyWorldConfig
    from toyworld.make import make_world

    out = tmp_path_factory.mktemp("adr-dr") / "world"
    make_world(
        ToyWorldConfig(out_dir=str(out), pool_size=800, benchmark_items_per_skill=2), progress=False
    )
    return out


# --- evaluation inputs: one exported tiny checkpoint and the local benchmark data ---------

FIXTURES = Path(__file__).resolve().parent / "evaluation" / "fixtures"

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


# A Llama-style SentencePiece model (BPE, byte fallback, <unk> <s> </s> at 0 1 2), trained here
# on a few lines. "USER" only ever follows "</s>" in them, so, as in Llama's vocabulary, a
# round tokenized alone starts "▁", "USER" where the same words after </s> are "USER" alone
# (legacy=False): the token count LLaVA-1.5's "-1" for later rounds assumes.
LLAMA_LINES = [
    "A chat between a curious user and an artificial intelligence assistant. The assistant "
    "gives helpful, detailed, and polite answers to the user's questions.",
    "What colour is the circle? red</s>USER: How many shapes are there? three</s>USER: Describe",
    "ASSISTANT: A blue triangle above a green star.</s>USER: Is there a red square? Yes No.",
    "Say hi. hi ASSISTANT: hello there</s>USER: thanks, which shape is left of the star?",
] * 20


@pytest.fixture(scope="session")
def llama_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the tokenizer.model of LLAMA_LINES (one thread: the same bytes each run)."""
    import io

    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(LLAMA_LINES),
        model_writer=model,
        model_type="bpe",
        vocab_size=420,
        byte_fallback=True,
        character_coverage=1.0,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        num_threads=1,
        minloglevel=2,
    )
    folder = tmp_path_factory.mktemp("llama-tokenizer")
    (folder / "tokenizer.model").write_bytes(model.getvalue())
    return folder
