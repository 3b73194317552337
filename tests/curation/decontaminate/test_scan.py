"""Matching one pool record: exact pixels, near-duplicates (hash, then pixels), question text."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
from PIL import Image

from curation.decontaminate.benchmarks import BenchmarkSource, build_index
from curation.decontaminate.config import DecontaminateConfig, NearConfig, TextConfig
from curation.decontaminate.scan import (
    aligned_difference,
    difference_bound,
    image_matches,
    record_matches,
    text_matches,
)


def _shifted(pixels: np.ndarray, dx: int, dy: int, noise: float = 0.0, seed: int = 0):
    reach = max(abs(dx), abs(dy))
    padded = np.pad(pixels.astype(np.float64), ((reach, reach), (reach, reach), (0, 0)), "edge")
    side = pixels.shape[0]
    moved = padded[reach - dy : reach - dy + side, reach - dx : reach - dx + side]
    moved = moved + np.random.default_rng(seed).normal(0, noise, moved.shape)
    return np.clip(np.rint(moved), 0, 255).astype(np.uint8)


def test_aligned_difference_undoes_a_shift_within_reach(tools: SimpleNamespace) -> None:
    original = tools.picture(5)
    moved = _shifted(original, 1, -2)
    assert aligned_difference(moved, original[None], max_shift=2) == [0.0]
    assert aligned_difference(moved, original[None], max_shift=1)[0] > 2


def test_difference_bound_never_exceeds_the_difference(tools: SimpleNamespace) -> None:
    images = np.stack([tools.picture(seed) for seed in range(12)])
    means = images[:, 2:-2, 2:-2].mean(axis=(1, 2))
    for seed in range(12, 20):
        mine = tools.picture(seed)
        bound = difference_bound(mine, means, max_shift=2)
        exact = np.array(aligned_difference(mine, images, max_shift=2))
        assert (bound <= exact + 1e-9).all() and bound.max() > 0


def _index(benchmark_file: Path, **changes: object):
    cfg = dataclasses.replace(DecontaminateConfig(progress=False), **changes)
    return build_index([BenchmarkSource("task_a", (str(benchmark_file),))], cfg), cfg


def test_an_exact_copy_is_exact_only(benchmark_file: Path, tools: SimpleNamespace) -> None:
    index, cfg = _index(benchmark_file, near=NearConfig(max_hamming=64))
    found = image_matches(Image.fromarray(tools.picture(103)), index, cfg)
    assert [(kind, index.items[index.image_item[e]]) for kind, e, _ in found] == [
        ("exact", ("task_a", "q3"))
    ]


def test_a_shifted_noisy_copy_is_near_and_the_pixel_check_decides(
    benchmark_file: Path, tools: SimpleNamespace
) -> None:
    copy = Image.fromarray(_shifted(tools.picture(104), 1, 1, noise=3.0))
    index, cfg = _index(benchmark_file, near=NearConfig(max_hamming=64, side=32))
    found = image_matches(copy, index, cfg)
    assert [(kind, index.items[index.image_item[e]][1]) for kind, e, _ in found] == [("near", "q4")]
    assert found[0][2]["pixel_difference"] <= 3.0
    strict, strict_cfg = _index(
        benchmark_file, near=NearConfig(max_hamming=64, side=32, max_pixel_difference=1.0)
    )
    assert image_matches(copy, strict, strict_cfg) == []
    unrelated = Image.fromarray(tools.picture(7))
    assert image_matches(unrelated, index, cfg) == []


def _words(n: int, prefix: str = "w") -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def test_text_overlap_threshold_is_on_the_question_ngrams(
    tmp_path: Path, tools: SimpleNamespace
) -> None:
    question = " ".join(_words(20))  # 8 word 13-grams
    path = tools.write_parquet(
        tmp_path / "t.parquet",
        [{"id": "x", "question": question}],
        pa.schema([("id", pa.string()), ("question", pa.string())]),
    )
    record = {"conversations": [{"from": "human", "value": " ".join(_words(16)) + " and more"}]}
    for min_overlap, expected in ((0.5, [(0, 0.5)]), (0.6, [])):
        cfg = DecontaminateConfig(progress=False, text=TextConfig(min_overlap=min_overlap))
        index = build_index([BenchmarkSource("t", (str(path),))], cfg)
        assert text_matches(record, index, cfg) == expected
    gpt_only = {"conversations": [{"from": "gpt", "value": question}]}
    assert text_matches(gpt_only, index, cfg) == []


def test_record_matches_name_the_task_item_and_image(
    benchmark_file: Path, tools: SimpleNamespace
) -> None:
    index, cfg = _index(benchmark_file)
    images = [Image.fromarray(tools.picture(7)), Image.fromarray(tools.picture(101))]
    question = "In the scene number 2 which of the many figures drawn on the canvas is the "
    record = {"conversations": [{"from": "human", "value": question + "largest one overall 2"}]}
    found = record_matches(record, images, index, cfg)
    assert [(m.kind, m.task, m.item, m.detail) for m in found] == [
        ("exact", "task_a", "q1", {"image": 1}),
        ("text", "task_a", "q2", {"overlap": 1.0}),
    ]
