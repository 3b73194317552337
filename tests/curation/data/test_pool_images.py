"""A table pool's embedded images, written once into the cache: its image root."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from curation.data import pool_images
from curation.data.pool_images import POOL_IMAGES, pool_image_root
from curation.data.records import load_records


@pytest.fixture
def pool(tmp_path, tables):
    folder = tmp_path / "pool"
    tables.hf_shard(
        folder / "train.parquet",
        [
            (
                "a",
                {"bytes": tables.image_bytes("red", size=(48, 20)), "path": None},
                tables.conversation(0),
            ),
            ("b", None, tables.conversation(1, with_image=False)),
            (
                "c",
                {"bytes": tables.image_bytes("blue", "JPEG"), "path": None},
                tables.conversation(2),
            ),
        ],
    )
    return folder


def test_images_are_written_once_under_the_names_records_give(pool, tmp_path, monkeypatch):
    root = pool_image_root(pool, tmp_path / "cache")
    assert root.parent == (tmp_path / "cache" / POOL_IMAGES).resolve()
    loaded = load_records(pool, image_root=root)  # every image opens and decodes
    assert [r["id"] for r in loaded.records] == ["a", "b", "c"] and not loaded.skipped
    with Image.open(root / loaded.records[0]["image"]) as img:
        assert img.size == (48, 20) and img.getpixel((0, 0)) == (255, 0, 0)
    assert sorted(p.name for p in (root / "train").iterdir()) == ["000000000.png", "000000002.jpg"]

    def written_again(*args):
        raise AssertionError("the images were written again")

    monkeypatch.setattr(pool_images, "iter_embedded_images", written_again)
    assert pool_image_root(pool, tmp_path / "cache") == root


def test_a_changed_shard_gets_a_new_folder(pool, tmp_path, tables):
    first = pool_image_root(pool, tmp_path / "cache")
    tables.hf_shard(
        pool / "train.parquet",
        [("z", {"bytes": tables.image_bytes("green"), "path": None}, tables.conversation(0))],
    )
    second = pool_image_root(pool, tmp_path / "cache")
    assert second != first and (second / "train" / "000000000.png").is_file()


def test_a_pool_of_paths_has_no_embedded_root(tmp_path, tables):
    table = pa.table({"id": ["a"], "image": ["x.png"], "conversations": [tables.conversation(0)]})
    pq.write_table(table, tmp_path / "paths.parquet")
    assert pool_image_root(tmp_path / "paths.parquet", tmp_path / "cache") is None
    assert not (tmp_path / "cache").exists()


def test_a_killed_writer_leaves_no_folder(pool, tmp_path, monkeypatch):
    def dies(path):
        yield "train/000000000.png", b"x"
        raise KeyboardInterrupt

    monkeypatch.setattr(pool_images, "iter_embedded_images", dies)
    with pytest.raises(KeyboardInterrupt):
        pool_image_root(pool, tmp_path / "cache")
    assert list((tmp_path / "cache" / POOL_IMAGES).iterdir()) == []
