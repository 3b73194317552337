"""Benchmark parquet files with embedded PNGs that Hugging Face `datasets` reads as
images: the schema metadata carries the `datasets` features under b"huggingface"."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curation.data.fileio import atomic_write_bytes

_STRING = {"dtype": "string", "_type": "Value"}
# "Sequence" rather than "List": every datasets release reads it (>= 4 maps it to List).
_STRINGS = {"feature": _STRING, "_type": "Sequence"}

BENCHMARK_FEATURES: dict[str, Any] = {
    "id": _STRING,
    "image": {"_type": "Image"},
    "question": _STRING,
    "answer": _STRING,
    "answer_type": _STRING,
    "keywords": _STRINGS,
    "skill": _STRING,
    "longtail": _STRING,
    "concepts": _STRINGS,
}
BENCHMARK_COLUMNS = tuple(BENCHMARK_FEATURES)

_ARROW_TYPES = {
    "id": pa.string(),
    "image": pa.struct([("bytes", pa.binary()), ("path", pa.string())]),
    "question": pa.string(),
    "answer": pa.string(),
    "answer_type": pa.string(),
    "keywords": pa.list_(pa.string()),
    "skill": pa.string(),
    "longtail": pa.string(),
    "concepts": pa.list_(pa.string()),
}


def benchmark_schema() -> pa.Schema:
    metadata = {b"huggingface": json.dumps({"info": {"features": BENCHMARK_FEATURES}}).encode()}
    return pa.schema([(name, _ARROW_TYPES[name]) for name in BENCHMARK_COLUMNS], metadata=metadata)


def write_benchmark_parquet(path: str | Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """rows: dicts with every BENCHMARK_COLUMNS key; image = {"bytes": png, "path": name}."""
    columns = {name: [row[name] for row in rows] for name in BENCHMARK_COLUMNS}
    table = pa.table(columns, schema=benchmark_schema())
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    atomic_write_bytes(path, buffer.getvalue())
