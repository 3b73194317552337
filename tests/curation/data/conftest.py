"""Helpers for table-pool tests, as fixtures (tests import nothing from each other)."""

import io
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
TURN = pa.struct([("from", pa.string()), ("value", pa.string())])


def image_bytes(colour, fmt="PNG", size=(40, 24)):
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, fmt)
    return buffer.getvalue()


def conversation(i, with_image=True):
    question = ("<image>\n" if with_image else "") + f"question {i}?"
    return [{"from": "human", "value": question}, {"from": "gpt", "value": f"answer {i}"}]


def hf_shard(path, rows):
    """A shard as `datasets` writes one with an Image feature."""
    table = pa.table(
        {
            "id": pa.array([r[0] for r in rows], pa.string()),
            "image": pa.array([r[1] for r in rows], IMAGE),
            "conversations": pa.array([r[2] for r in rows], pa.list_(TURN)),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=2)


@pytest.fixture(scope="session")
def tables():
    """image_bytes(colour, fmt, size), conversation(i, with_image), hf_shard(path, rows) and
    the Image / turn struct types, as `datasets` writes them."""
    return SimpleNamespace(
        IMAGE=IMAGE,
        TURN=TURN,
        image_bytes=image_bytes,
        conversation=conversation,
        hf_shard=hf_shard,
    )
