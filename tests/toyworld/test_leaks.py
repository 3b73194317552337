"""Planted benchmark leaks: off by default (the default world's bytes do not move), and when
asked, records that copy, jitter or reword benchmark items, listed in leaks.jsonl."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from configs.compose import ConfigError
from toyworld.config import ToyWorldConfig, validate_config
from toyworld.leaks import LEAD_IN, LEAK_QUESTION_MIN_WORDS, REPLY
from toyworld.make import make_world

GOLDEN = Path(__file__).parent / "golden" / "default_world.json"


def _data_files(root: Path) -> dict[str, str]:
    """sha256 of every file a world holds but world.json and config.yaml (which record the
    code and config); images folded into one digest."""
    files, images = {}, hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.name in ("world.json", "config.yaml"):
            continue
        name = path.relative_to(root).as_posix()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if name.startswith("images/"):
            images.update(name.encode() + b"\0" + digest.encode() + b"\n")
        else:
            files[name] = digest
    return {**files, "images/*": images.hexdigest()}


@pytest.mark.slow
def test_the_default_world_is_byte_for_byte_as_before_the_leak_knob(tmp_path: Path) -> None:
    """Golden: the default world's files as made before leaks existed (same lock)."""
    world = make_world(ToyWorldConfig(out_dir=str(tmp_path / "w")), progress=False)
    assert _data_files(world) == json.loads(GOLDEN.read_text())
    assert not (world / "leaks.jsonl").exists()
    assert "leaks" not in json.loads((world / "world.json").read_text())


LEAKS = {"leak_exact_images": 4, "leak_jittered_images": 5, "leak_questions": 3}


@pytest.fixture(scope="module")
def leaky(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = ToyWorldConfig(
        out_dir=str(tmp_path_factory.mktemp("tw") / "leaky"),
        pool_size=300,
        benchmark_items_per_skill=20,
        **LEAKS,
    )
    return make_world(cfg, progress=False)


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _benchmark_rows(world: Path) -> dict[str, dict]:
    rows = {}
    for path in sorted((world / "benchmarks").glob("*.parquet")):
        rows.update({row["id"]: row for row in pq.read_table(path).to_pylist()})
    return rows


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


def test_leaks_are_appended_and_listed(leaky: Path) -> None:
    leaks = _jsonl(leaky / "leaks.jsonl")
    assert [row["kind"] for row in leaks] == ["exact"] * 4 + ["near"] * 5 + ["text"] * 3
    assert [row["id"] for row in leaks] == [f"tw-{300 + i:06d}" for i in range(12)]
    assert len({row["item"] for row in leaks}) == 12  # twelve distinct benchmark items
    records = json.loads((leaky / "pool.json").read_text())
    assert [r["id"] for r in records[300:]] == [row["id"] for row in leaks]
    entities = {row["id"] for row in _jsonl(leaky / "entities.jsonl")}
    annotated = {row["id"] for row in _jsonl(leaky / "annotations.jsonl")}
    assert {row["id"] for row in leaks} <= entities
    assert {row["id"] for row in leaks if row["kind"] != "text"} <= annotated
    assert json.loads((leaky / "world.json").read_text())["leaks"] == {
        "exact": 4,
        "near": 5,
        "text": 3,
    }


def test_image_leaks_copy_or_jitter_the_benchmark_image(leaky: Path) -> None:
    bench = _benchmark_rows(leaky)
    jitter = ToyWorldConfig().jitter_px
    for row in _jsonl(leaky / "leaks.jsonl"):
        if row["kind"] == "text":
            continue
        mine = (leaky / "images" / f"{row['id']}.png").read_bytes()
        theirs = bench[row["item"]]["image"]["bytes"]
        if row["kind"] == "exact":
            assert mine == theirs
            continue
        a, b = _pixels(mine), _pixels(theirs)
        assert a.shape == b.shape and not np.array_equal(a, b)
        side = a.shape[0]
        best = min(
            np.abs(a[1 + dy : side - 1 + dy, 1 + dx : side - 1 + dx] - b[1:-1, 1:-1]).mean()
            for dy in range(-jitter, jitter + 1)
            for dx in range(-jitter, jitter + 1)
        )
        unshifted = np.abs(a[1:-1, 1:-1] - b[1:-1, 1:-1]).mean()
        assert best < 6.0  # noise of std 6 on the shifted copy
        assert unshifted > best  # a real shift: undoing it brings the images closer


def test_question_leaks_reword_a_long_benchmark_question(leaky: Path) -> None:
    bench = _benchmark_rows(leaky)
    records = {r["id"]: r for r in json.loads((leaky / "pool.json").read_text())}
    for row in _jsonl(leaky / "leaks.jsonl"):
        if row["kind"] != "text":
            continue
        record = records[row["id"]]
        assert "image" not in record
        human, gpt = (turn["value"] for turn in record["conversations"])
        question = bench[row["item"]]["question"].split("\n")[0]
        assert len(re.findall(r"\w+", question)) >= LEAK_QUESTION_MIN_WORDS
        assert human != question and human.startswith(LEAD_IN) and human.endswith(REPLY)
        words = re.findall(r"\w+", question.lower())
        assert " ".join(words) in " ".join(re.findall(r"\w+", human.lower()))
        assert gpt == bench[row["item"]]["answer"]


def test_leaks_keep_the_rest_of_the_world(leaky: Path, world: Path) -> None:
    """The pool's own samples and the benchmarks are those of the same world without leaks."""
    plain, planted = _data_files(world), _data_files(leaky)
    for name in [n for n in plain if n.startswith("benchmarks/")]:
        assert planted[name] == plain[name]
    records = json.loads((leaky / "pool.json").read_text())
    assert records[:300] == json.loads((world / "pool.json").read_text())


def test_too_many_leaks_is_one_line(
    small_config: Callable[..., ToyWorldConfig], tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="leak_questions=500: only .* have at least 13 words"):
        make_world(small_config(tmp_path / "w", leak_questions=500), progress=False)
    assert not (tmp_path / "w").exists()
    with pytest.raises(ConfigError, match="leak_exact_images"):
        validate_config(dataclasses.replace(ToyWorldConfig(), leak_exact_images=-1))
