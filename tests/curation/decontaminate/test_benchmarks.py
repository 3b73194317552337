"""The benchmark index: streamed in batches, images and questions found from the schema."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pytest
from PIL import Image

from configs.errors import InputNotFoundError
from curation.decontaminate.benchmarks import BenchmarkSource, build_index
from curation.decontaminate.config import DecontaminateConfig
from curation.decontaminate.imagehash import exact_hash


def _cfg(**changes: object) -> DecontaminateConfig:
    return dataclasses.replace(DecontaminateConfig(progress=False), **changes)


def test_every_image_and_question_is_indexed(benchmark_file: Path, tools: SimpleNamespace) -> None:
    index = build_index([BenchmarkSource("task_a", (str(benchmark_file),))], _cfg())
    assert index.items == [("task_a", f"q{i}") for i in range(6)]
    stats = index.stats["task_a"]
    assert (stats.rows, stats.images, stats.questions) == (6, 6, 6)
    assert stats.checked_questions == 6 and stats.boilerplate_sentences == 1  # the answer line
    expected = exact_hash(Image.fromarray(tools.picture(103)))
    assert [index.items[index.image_item[e]] for e in index.exact[expected]] == [("task_a", "q3")]
    assert index.thumbnails.shape == (6, 16, 16, 3) and len(index.phashes) == 6


def test_batches_do_not_change_the_index(benchmark_file: Path) -> None:
    source = [BenchmarkSource("task_a", (str(benchmark_file),))]
    one, many = build_index(source, _cfg(batch_rows=1)), build_index(source, _cfg(batch_rows=64))
    assert one.items == many.items and one.exact == many.exact
    assert one.phashes.tolist() == many.phashes.tolist()
    assert one.question_size == many.question_size and one.ngram_questions == many.ngram_questions


def test_image_lists_raw_bytes_row_ids_and_broken_images(
    tmp_path: Path, tools: SimpleNamespace
) -> None:
    columns = [("images", pa.list_(tools.IMAGE)), ("raw", pa.binary()), ("query", pa.string())]
    schema = pa.schema(columns)
    rows = [
        {
            "images": [{"bytes": tools.png(tools.picture(s)), "path": None} for s in (1, 2)],
            "raw": b"not an image",
            "query": "no question column by the default name",
        }
    ]
    path = tools.write_parquet(tmp_path / "multi.parquet", rows, schema)
    index = build_index([BenchmarkSource("multi", (str(path),))], _cfg())
    assert index.items == [("multi", "multi.parquet:0")]
    stats = index.stats["multi"]
    assert (stats.images, stats.unreadable_images, stats.questions) == (2, 1, 0)
    with_query = build_index(
        [BenchmarkSource("multi", (str(path),))],
        _cfg(text=dataclasses.replace(DecontaminateConfig().text, fields=["query"], ngram=3)),
    )
    assert with_query.stats["multi"].checked_questions == 1


def test_kinds_leave_out_what_they_do_not_need(benchmark_file: Path) -> None:
    source = [BenchmarkSource("task_a", (str(benchmark_file),))]
    text_only = build_index(source, _cfg(kinds=["text"]))
    assert not text_only.exact and text_only.stats["task_a"].images == 0
    assert text_only.question_item
    images_only = build_index(source, _cfg(kinds=["exact", "near"]))
    assert not images_only.question_item and len(images_only.exact) == 6


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="task 't': no benchmark file"):
        build_index([BenchmarkSource("t", (str(tmp_path / "gone.parquet"),))], _cfg())
