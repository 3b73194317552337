"""Benchmark parquet files: exact columns, HF image features, head/tail labels, held out."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image

from curation.data.longtail import LongTailRule
from toyworld.config import SKILLS
from toyworld.hf_parquet import BENCHMARK_COLUMNS
from toyworld.skills import CHOICE_INSTRUCTION, SHORT_ANSWER_INSTRUCTION
from toyworld.stats import count_entities

ANSWER_TYPES = {"word", "number", "yesno", "letter", "caption"}


def rows(world: Path, skill: str) -> list[dict]:
    return pq.read_table(world / "benchmarks" / f"{skill}.parquet").to_pylist()


@pytest.mark.parametrize("skill", SKILLS)
def test_columns_types_and_labels(world: Path, skill: str) -> None:
    table = pq.read_table(world / "benchmarks" / f"{skill}.parquet")
    assert tuple(table.column_names) == BENCHMARK_COLUMNS
    assert str(table.schema.field("image").type) == "struct<bytes: binary, path: string>"
    items = table.to_pylist()
    assert len(items) == 20
    assert {item["skill"] for item in items} == {skill}
    assert {item["longtail"] for item in items} == {"head", "tail"}
    assert len({item["id"] for item in items}) == 20
    for item in items:
        assert item["answer_type"] in ANSWER_TYPES
        assert "<image>" not in item["question"] and item["answer"]
        assert item["concepts"] and all(" " in concept for concept in item["concepts"])
        with Image.open(io.BytesIO(item["image"]["bytes"])) as image:
            assert image.size == (32, 32)
        assert item["image"]["path"] == f"{item['id']}.png"


def test_answer_formats_follow_the_real_benchmarks(world: Path) -> None:
    for item in rows(world, "multiple_choice"):
        assert item["answer_type"] == "letter" and item["answer"] in "ABCD"
        assert item["question"].endswith("\n" + CHOICE_INSTRUCTION)
        assert f"\n{item['answer']}. " in item["question"]
    for item in rows(world, "existence"):
        assert item["answer"] in ("yes", "no")
        assert item["question"].endswith("\n" + SHORT_ANSWER_INSTRUCTION)
    assert [i["answer"] for i in rows(world, "existence")].count("yes") == 10
    for item in rows(world, "counting"):
        assert item["answer_type"] == "number" and item["answer"] in "1234"
    for item in rows(world, "caption"):
        assert item["keywords"] == list(dict.fromkeys(item["keywords"]))
        assert all(f" {keyword}" in item["answer"] for keyword in item["keywords"])
    for skill in SKILLS:
        if skill != "caption":
            assert all(item["keywords"] == [] for item in rows(world, skill))


def test_images_are_held_out_of_the_pool(world: Path) -> None:
    pool_hashes = {
        hashlib.sha256(p.read_bytes()).hexdigest() for p in (world / "images").glob("*.png")
    }
    for skill in SKILLS:
        for item in rows(world, skill):
            assert hashlib.sha256(item["image"]["bytes"]).hexdigest() not in pool_hashes


def test_labels_agree_with_the_rule_on_pool_counts(world: Path) -> None:
    entities = [json.loads(line) for line in (world / "entities.jsonl").read_text().splitlines()]
    rule = LongTailRule(count_entities(entities))
    for item in rows(world, "shape"):
        objects = sorted(item["concepts"])
        pairs = [f"{a},{b}" for i, a in enumerate(objects) for b in objects[i + 1 :]]
        # Object and co-occurrence alone already decide "tail" for many items; an item
        # they call tail must be labelled tail.
        if rule.is_tail({"object": objects, "co_occurrence": pairs}):
            assert item["longtail"] == "tail"


def test_datasets_decodes_the_image_column(world: Path, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    loaded = datasets.load_dataset(
        "parquet",
        data_files=str(world / "benchmarks" / "colour.parquet"),
        split="train",
        cache_dir=str(tmp_path / "hf"),
    )
    assert type(loaded.features["image"]).__name__ == "Image"
    assert list(loaded.column_names) == list(BENCHMARK_COLUMNS)
    first = loaded[0]
    assert isinstance(first["image"], Image.Image) and first["image"].size == (32, 32)
    assert isinstance(first["concepts"], list)
