"""Table pools: parquet / arrow shards read row by row into LLaVA records."""

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from curation.data import tablepool
from curation.data.records import PoolFormatError, iter_records, load_records
from curation.data.tablepool import (
    TablePoolError,
    has_embedded_images,
    is_table_pool,
    iter_embedded_images,
    iter_table_records,
    table_shards,
)


@pytest.fixture
def hub_folder(tmp_path, tables):
    """Two shards in a hub snapshot's layout, a text-only row, a JPEG with a named path."""
    folder = tmp_path / "snapshot"
    tables.hf_shard(
        folder / "data" / "train-00001-of-00002.parquet",
        [
            (
                "c",
                {"bytes": tables.image_bytes("blue", "JPEG"), "path": "c.jpeg"},
                tables.conversation(2),
            )
        ],
    )
    tables.hf_shard(
        folder / "data" / "train-00000-of-00002.parquet",
        [
            ("a", {"bytes": tables.image_bytes("red"), "path": None}, tables.conversation(0)),
            ("b", None, tables.conversation(1, with_image=False)),
        ],
    )
    (folder / ".cache").mkdir()
    tables.hf_shard(
        folder / ".cache" / "hidden.parquet", [("x", None, tables.conversation(9, False))]
    )
    (folder / "README.md").write_text("a dataset card\n")
    return folder


def test_rows_become_records_in_shard_order(hub_folder, tables):
    records = list(iter_table_records(hub_folder))
    assert [(p, r["id"]) for p, r in records] == [(0, "a"), (1, "b"), (2, "c")]
    a, b, c = (r for _, r in records)
    assert a["image"] == "data/train-00000-of-00002/000000000.png"  # magic number: PNG
    assert "image" not in b  # null image: a text-only record
    assert c["image"] == "data/train-00001-of-00002/000000000.jpeg"  # the struct's own suffix
    assert a["conversations"] == tables.conversation(0)
    assert all(not isinstance(v, bytes) for r in (a, b, c) for v in r.values())


def test_embedded_images_come_with_the_names_records_give(hub_folder):
    images = dict(iter_embedded_images(hub_folder))
    assert set(images) == {
        "data/train-00000-of-00002/000000000.png",
        "data/train-00001-of-00002/000000000.jpeg",
    }
    with Image.open(io.BytesIO(images["data/train-00000-of-00002/000000000.png"])) as img:
        assert img.size == (40, 24) and img.getpixel((0, 0)) == (255, 0, 0)


def test_a_table_pool_validates_like_a_json_pool(hub_folder):
    loaded = load_records(hub_folder)
    assert loaded.n_read == 3 and [r["id"] for r in loaded.records] == ["a", "b", "c"]
    assert loaded.positions.tolist() == [0, 1, 2]


def test_path_column_json_string_conversations_and_extra_columns(tmp_path, tables):
    table = pa.table(
        {
            "id": ["p0", "p1"],
            "image": ["coco/1.jpg", None],
            "conversations": [
                json.dumps(tables.conversation(0)),
                json.dumps(tables.conversation(1, False)),
            ],
            "source": ["vqa", "text"],
            "blob": pa.array([b"\x00", b"\x01"], pa.binary()),
        }
    )
    pq.write_table(table, tmp_path / "pool.parquet")
    records = [r for _, r in iter_table_records(tmp_path / "pool.parquet")]
    assert records[0] == {
        "id": "p0",
        "image": "coco/1.jpg",
        "conversations": tables.conversation(0),
        "source": "vqa",
    }
    assert "image" not in records[1] and "blob" not in records[1]
    assert not has_embedded_images(tmp_path / "pool.parquet")
    assert list(iter_embedded_images(tmp_path / "pool.parquet")) == []


def test_arrow_stream_of_a_datasets_cache(tmp_path, tables):
    table = pa.table(
        {
            "id": [f"r{i}" for i in range(150)],
            "image": pa.array(
                [{"bytes": tables.image_bytes("green"), "path": None}] * 150, tables.IMAGE
            ),
            "conversations": pa.array(
                [tables.conversation(i) for i in range(150)], pa.list_(tables.TURN)
            ),
        }
    )
    folder = tmp_path / "cache" / "ds" / "default" / "0.0.0" / "abc"
    folder.mkdir(parents=True)
    with pa.OSFile(str(folder / "ds-train.arrow"), "wb") as sink:
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    with pa.OSFile(str(folder / "cache-0123.arrow"), "wb") as sink:  # datasets' map cache
        with pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table.slice(0, 1))
    assert table_shards(tmp_path / "cache") == [folder / "ds-train.arrow"]
    records = [r for _, r in iter_table_records(tmp_path / "cache")]
    assert len(records) == 150 and records[149]["image"].endswith("ds-train/000000149.png")
    assert has_embedded_images(tmp_path / "cache")


def test_arrow_ipc_file(tmp_path, tables):
    table = pa.table({"id": ["f0"], "conversations": pa.array([tables.conversation(0, False)])})
    with pa.OSFile(str(tmp_path / "one.arrow"), "wb") as sink:
        with pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
    assert [r["id"] for _, r in iter_table_records(tmp_path / "one.arrow")] == ["f0"]


def test_rows_are_read_in_batches_never_the_whole_table(hub_folder, monkeypatch):
    def whole(*args, **kwargs):
        raise AssertionError("read the whole table")

    monkeypatch.setattr(pq, "read_table", whole)
    monkeypatch.setattr(pq.ParquetFile, "read", whole)
    seen = []
    real = pq.ParquetFile.iter_batches

    def spy(self, *args, **kwargs):
        seen.append(kwargs.get("batch_size"))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", spy)
    assert len(list(iter_table_records(hub_folder))) == 3
    assert seen == [tablepool.BATCH_ROWS] * 2


def test_not_a_table_pool(tmp_path):
    (tmp_path / "empty").mkdir()
    assert not is_table_pool(tmp_path / "empty")
    with pytest.raises(PoolFormatError, match="a folder without .parquet or .arrow files"):
        list(iter_records(tmp_path / "empty"))
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(TablePoolError, match=r"bad\.parquet: cannot read"):
        list(iter_records(tmp_path / "bad.parquet"))
