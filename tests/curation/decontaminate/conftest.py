"""Benchmark parquet files and pools built in tmp_path, with answers known by construction."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def picture(seed: int, side: int = 32) -> np.ndarray:
    """A random blocky RGB picture: any two seeds differ a lot."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(side // 8, side // 8, 3), dtype=np.uint8)
    return np.repeat(np.repeat(blocks, 8, axis=0), 8, axis=1)


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def write_parquet(path: Path, rows: list[dict[str, Any]], schema: pa.Schema) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path, row_group_size=3)
    return path


@pytest.fixture
def benchmark_file(tmp_path: Path) -> Path:
    """Six items: ids q0..q5, image = picture(100 + i), a long question each."""
    rows = [
        {
            "id": f"q{i}",
            "image": {"bytes": png(picture(100 + i)), "path": f"{i}.png"},
            "question": f"In the scene number {i} which of the many figures drawn on the "
            f"canvas is the largest one overall {i}?\nAnswer with one word.",
        }
        for i in range(6)
    ]
    schema = pa.schema([("id", pa.string()), ("image", IMAGE), ("question", pa.string())])
    return write_parquet(tmp_path / "bench" / "task_a" / "test.parquet", rows, schema)


@pytest.fixture
def tools() -> SimpleNamespace:
    """picture(seed), png(pixels), write_parquet(path, rows, schema), IMAGE (the struct)."""
    return SimpleNamespace(picture=picture, png=png, write_parquet=write_parquet, IMAGE=IMAGE)
