"""LLaVA pools published as tables: parquet shards (the Hugging Face hub's layout, as the
LLaVA-OneVision and Cambrian mixes are published) or arrow files (a `datasets` cache folder).

A table pool is one `.parquet` / `.arrow` file or a folder of them (searched recursively, in
sorted order of their paths; hidden folders and `datasets`' own `cache-*.arrow` files are left
out). Each row is a LLaVA record: `id`, `conversations` (a list of {from, value}, or that list
as a JSON string), `image` and any other columns, kept as extra keys (binary ones dropped).
Rows are read one record batch at a time, so a million-record pool is never held whole.

The `image` column may hold
  - a path (string): relative to the pool's image root, as in a JSON pool;
  - the image itself: bytes, or Hugging Face's Image struct {bytes, path}. The record then
    names it `<shard path without suffix>/<row in shard, 9 digits><ext>` (ext from the
    struct's path, else from the bytes' magic number), the file `write_embedded_images` writes
    under the image root it makes (curation.data.pool_images);
  - null: a text-only record (no "image" key).
Positions count rows from 0 across the shards in order, as records count in a JSON pool.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from configs.errors import UserError

TABLE_SUFFIXES = (".parquet", ".arrow")
BATCH_ROWS = 64  # rows per record batch: embedded images make rows large
_MAGIC = (
    (b"\xff\xd8\xff", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", ".png"),
    (b"GIF8", ".gif"),
    (b"BM", ".bmp"),
)
_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"}


class TablePoolError(UserError, ValueError):
    """A table pool (or one of its shards) cannot be read."""


def is_table_pool(path: str | os.PathLike) -> bool:
    """A .parquet/.arrow file, or a folder holding at least one."""
    path = Path(path)
    if path.is_file():
        return path.suffix in TABLE_SUFFIXES
    return path.is_dir() and bool(table_shards(path))


def table_shards(path: str | os.PathLike) -> list[Path]:
    """The shards of a table pool, in reading order."""
    path = Path(path)
    if path.is_file():
        return [path] if path.suffix in TABLE_SUFFIXES else []
    found = []
    for folder, dirs, files in os.walk(path, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if _is_shard(name):
                found.append(Path(folder) / name)
    parquet = [p for p in found if p.suffix == ".parquet"]
    shards = parquet or found  # a folder of both: the parquet files are the dataset
    return sorted(shards, key=lambda p: p.relative_to(path).as_posix())


def _is_shard(name: str) -> bool:
    if name.startswith("."):
        return False
    suffix = Path(name).suffix
    return suffix == ".parquet" or (suffix == ".arrow" and not name.startswith("cache-"))


def iter_table_records(path: str | os.PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
    """(position, record) for every row of a table pool, images named, never loaded whole."""
    for position, record, _ in _iter_rows(path):
        yield position, record


def iter_embedded_images(path: str | os.PathLike) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of every image embedded in a table pool, in pool order."""
    for _, _, embedded in _iter_rows(path):
        if embedded is not None:
            yield embedded


def _iter_rows(path: str | os.PathLike) -> Iterator[tuple[int, dict[str, Any], Any]]:
    root = Path(path)
    shards = table_shards(root)
    if not shards:
        raise TablePoolError(f"{root}: no .parquet or .arrow files")
    position = 0
    for shard in shards:
        stem = _shard_stem(root, shard)
        row = 0
        for batch in _batches(shard):
            for values in batch.to_pylist():
                record, embedded = _record(values, stem, row)
                yield position, record, embedded
                position += 1
                row += 1


def _shard_stem(root: Path, shard: Path) -> str:
    relative = shard.name if root.is_file() else shard.relative_to(root).as_posix()
    return relative.rsplit(".", 1)[0]


def _batches(shard: Path) -> Iterator[pa.RecordBatch]:
    try:
        if shard.suffix == ".parquet":
            yield from pq.ParquetFile(shard).iter_batches(batch_size=BATCH_ROWS)
        else:
            yield from _arrow_batches(shard)
    except (pa.ArrowException, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise TablePoolError(f"{shard}: cannot read: {first}") from None


def _arrow_batches(shard: Path) -> Iterator[pa.RecordBatch]:
    """An arrow IPC stream (what `datasets` caches) or an arrow IPC file."""
    with pa.memory_map(str(shard)) as source:
        try:
            reader: Any = pa.ipc.open_stream(source)
        except pa.ArrowInvalid:
            source.seek(0)
            file_reader = pa.ipc.open_file(source)
            reader = (file_reader.get_batch(i) for i in range(file_reader.num_record_batches))
        for batch in reader:
            yield from (batch.slice(i, BATCH_ROWS) for i in range(0, batch.num_rows, BATCH_ROWS))


def _record(values: dict[str, Any], stem: str, row: int) -> tuple[dict[str, Any], Any]:
    """A row as a LLaVA record, and (name, bytes) of its embedded image or None."""
    record = {k: v for k, v in values.items() if not isinstance(v, (bytes, bytearray))}
    conversations = record.get("conversations")
    if isinstance(conversations, str):
        try:
            record["conversations"] = json.loads(conversations)
        except (json.JSONDecodeError, RecursionError):
            pass  # validation reports it as conversations_not_list
    image = values.get("image")
    embedded = None
    data, given_path = _image_bytes(image)
    if data is not None:
        name = f"{stem}/{row:09d}{_suffix(data, given_path)}"
        record["image"] = name
        embedded = (name, data)
    elif isinstance(image, dict):
        if given_path:
            record["image"] = given_path
        else:
            record.pop("image", None)
    elif image is None:
        record.pop("image", None)
    return record, embedded


def _image_bytes(image: Any) -> tuple[bytes | None, str]:
    if isinstance(image, (bytes, bytearray)):
        return bytes(image), ""
    if isinstance(image, dict):
        data, path = image.get("bytes"), image.get("path")
        path = path if isinstance(path, str) else ""
        return (bytes(data) if isinstance(data, (bytes, bytearray)) else None), path
    return None, ""


def _suffix(data: bytes, given_path: str) -> str:
    suffix = Path(given_path).suffix.lower()
    if suffix in _IMAGE_SUFFIXES:
        return suffix
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    return next((ext for magic, ext in _MAGIC if data.startswith(magic)), "")


def has_embedded_images(path: str | os.PathLike) -> bool:
    """Whether any shard's schema has an image column that can hold bytes (binary, or a struct
    with a binary `bytes` field): its images must be written out before they can be read."""
    for shard in table_shards(path):
        schema = _schema(shard)
        if "image" in schema.names and _holds_bytes(schema.field("image").type):
            return True
    return False


def _schema(shard: Path) -> pa.Schema:
    try:
        if shard.suffix == ".parquet":
            return pq.read_schema(shard)
        with pa.memory_map(str(shard)) as source:
            try:
                return pa.ipc.open_stream(source).schema
            except pa.ArrowInvalid:
                source.seek(0)
                return pa.ipc.open_file(source).schema
    except (pa.ArrowException, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise TablePoolError(f"{shard}: cannot read: {first}") from None


def _holds_bytes(kind: pa.DataType) -> bool:
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return True
    if pa.types.is_struct(kind):
        return any(
            kind.field(i).name == "bytes" and _holds_bytes(kind.field(i).type)
            for i in range(kind.num_fields)
        )
    return False
