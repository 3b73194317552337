"""The benchmark side: every image and question of a suite's tasks, read from their parquet
files a batch of rows at a time and kept only as fingerprints (an exact hash, a 64-bit
perceptual hash and a small thumbnail per image; n-gram hashes per question), so a suite
of 100K+ images is indexed in bounded memory (about side x side x 3 bytes per image).

Columns are found from the parquet schema: an image is a `datasets` Image struct
({bytes, path}), a list of them, or raw binary; question text comes from the configured
`text.fields`; an item's id from the first of `id_fields` the file has (else file:row).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image
from tqdm import tqdm

from configs.errors import InputNotFoundError, UserError
from curation.decontaminate.config import DecontaminateConfig
from curation.decontaminate.imagehash import exact_hash, phash
from curation.decontaminate.text import boilerplate, question_ngrams


class BenchmarkFormatError(UserError, ValueError):
    """A benchmark file cannot be read as a table of items."""


@dataclass(frozen=True)
class BenchmarkSource:
    """One task of a suite and the local parquet files that hold its documents."""

    task: str
    files: tuple[str, ...]


@dataclass
class TaskStats:
    rows: int = 0
    images: int = 0
    unreadable_images: int = 0
    questions: int = 0
    checked_questions: int = 0  # with at least one n-gram outside the boilerplate
    boilerplate_sentences: int = 0


@dataclass
class BenchmarkIndex:
    """Fingerprints of every benchmark image and question; item k is items[k]."""

    items: list[tuple[str, str]] = field(default_factory=list)  # (task, item id)
    exact: dict[bytes, list[int]] = field(default_factory=dict)  # exact hash -> image entries
    image_item: list[int] = field(default_factory=list)  # image entry -> item
    phashes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    thumbnails: np.ndarray = field(default_factory=lambda: np.zeros((0, 1, 1, 3), np.uint8))
    centre_means: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # scan.centre
    question_item: list[int] = field(default_factory=list)  # question entry -> item
    question_text: list[str] = field(default_factory=list)
    question_size: list[int] = field(default_factory=list)  # its number of n-grams
    ngram_questions: dict[int, list[int]] = field(default_factory=dict)  # n-gram -> questions
    stats: dict[str, TaskStats] = field(default_factory=dict)


def thumbnail(image: Image.Image, side: int) -> np.ndarray:
    return np.asarray(image.convert("RGB").resize((side, side), Image.Resampling.BOX))


def build_index(sources: list[BenchmarkSource], cfg: DecontaminateConfig) -> BenchmarkIndex:
    index = BenchmarkIndex()
    phashes: list[int] = []
    thumbs: list[np.ndarray] = []
    with_images = bool({"exact", "near"} & set(cfg.kinds))
    bar = tqdm(desc="benchmark items", unit=" items", disable=not cfg.progress)
    with bar:
        for source in sources:
            stats = index.stats.setdefault(source.task, TaskStats())
            questions: list[tuple[int, str]] = []
            for item_id, images, texts in _items(source, cfg, with_images):
                item = len(index.items)
                index.items.append((source.task, item_id))
                stats.rows += 1
                bar.update()
                for data in images:
                    try:
                        with Image.open(io.BytesIO(data)) as image:
                            image.load()
                            fingerprints = exact_hash(image), phash(image)
                            thumbs.append(thumbnail(image, cfg.near.side))
                    except Exception:  # PIL raises many types for broken files
                        stats.unreadable_images += 1
                        continue
                    index.exact.setdefault(fingerprints[0], []).append(len(index.image_item))
                    phashes.append(fingerprints[1])
                    index.image_item.append(item)
                    stats.images += 1
                questions.extend((item, text) for text in texts)
            if "text" in cfg.kinds:
                _index_questions(index, questions, cfg, stats)
    index.phashes = np.array(phashes, dtype=np.uint64)
    side = cfg.near.side
    index.thumbnails = np.stack(thumbs) if thumbs else np.zeros((0, side, side, 3), np.uint8)
    m = cfg.near.max_shift
    index.centre_means = index.thumbnails[:, m : side - m, m : side - m].mean(axis=(1, 2))
    return index


def _index_questions(
    index: BenchmarkIndex,
    questions: list[tuple[int, str]],
    cfg: DecontaminateConfig,
    stats: TaskStats,
) -> None:
    dropped = boilerplate(
        (text for _, text in questions), cfg.text.boilerplate_share, cfg.text.boilerplate_min_count
    )
    stats.questions += len(questions)
    stats.boilerplate_sentences += len(dropped)
    for item, text in questions:
        grams = question_ngrams(text, cfg.text.ngram, dropped)
        if not grams:
            continue
        entry = len(index.question_item)
        index.question_item.append(item)
        index.question_text.append(text)
        index.question_size.append(len(grams))
        for gram in grams:
            index.ngram_questions.setdefault(gram, []).append(entry)
        stats.checked_questions += 1


def _items(
    source: BenchmarkSource, cfg: DecontaminateConfig, with_images: bool
) -> Iterator[tuple[str, list[bytes], list[str]]]:
    """(item id, image bytes, question texts) per row of the source's files, in order."""
    for file in source.files:
        path = Path(file)
        if not path.is_file():
            raise InputNotFoundError(f"task '{source.task}': no benchmark file {path}")
        try:
            parquet = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as err:
            raise BenchmarkFormatError(f"task '{source.task}': {path}: {err}") from None
        schema = parquet.schema_arrow
        image_columns = [f.name for f in schema if _is_image(f.type)] if with_images else []
        text_columns = [n for n in cfg.text.fields if n in schema.names]
        text_columns = [n for n in text_columns if pa.types.is_string(schema.field(n).type)]
        text_columns = text_columns if "text" in cfg.kinds else []
        id_column = next((n for n in cfg.id_fields if n in schema.names), None)
        columns = [*image_columns, *text_columns, *([id_column] if id_column else [])]
        row = 0
        for batch in parquet.iter_batches(batch_size=cfg.batch_rows, columns=columns):
            table = batch.to_pydict()
            for i in range(batch.num_rows):
                item_id = f"{path.name}:{row}" if id_column is None else table[id_column][i]
                images = [data for c in image_columns for data in _image_bytes(table[c][i])]
                texts = [table[c][i] for c in text_columns if table[c][i]]
                yield str(item_id), images, texts
                row += 1


def _is_image(kind: pa.DataType) -> bool:
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        kind = kind.value_type
    if pa.types.is_struct(kind):
        return kind.get_field_index("bytes") >= 0
    return pa.types.is_binary(kind) or pa.types.is_large_binary(kind)


def _image_bytes(value: Any) -> list[bytes]:
    values = value if isinstance(value, list) else [value]
    found = []
    for entry in values:
        data = entry.get("bytes") if isinstance(entry, dict) else entry
        if data:
            found.append(data)
    return found
