"""experiments.pools: which pool and image root a data config names."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from configs.compose import ConfigError
from configs.errors import InputNotFoundError
from curation.data.records import write_records
from curation.data.subset import write_subset
from experiments.pools import check_pool_keys, prepare_pool
from experiments.schemas import DataConfig

TURNS = [{"from": "human", "value": "<image>\nq?"}, {"from": "gpt", "value": "a"}]


@pytest.mark.parametrize(
    "keys, named",
    [({"pool": "p.json"}, "data.pool"), ({"image_root": "imgs"}, "data.image_root")],
)
def test_pool_keys_on_a_generated_world_are_an_error(keys, named, tmp_path):
    data = DataConfig(**keys)
    data.toyworld.out_dir = str(tmp_path / "world")
    with pytest.raises(ConfigError) as err:
        prepare_pool(data)
    assert named in str(err.value) and "data=llava" in str(err.value)
    assert not (tmp_path / "world").exists()  # no ToyWorld made in their place


def test_llava_pool_keys_pass():
    check_pool_keys(DataConfig(kind="llava", pool="p.json", image_root="imgs"))
    check_pool_keys(DataConfig())


def test_a_parquet_pool_with_embedded_images_gets_the_cache_folder(tmp_path):
    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    png = b"\x89PNG\r\n\x1a\n not decoded here"
    table = pa.table(
        {
            "id": ["a"],
            "image": pa.array([{"bytes": png, "path": None}], image),
            "conversations": [TURNS],
        }
    )
    (tmp_path / "shards").mkdir()
    pq.write_table(table, tmp_path / "shards" / "train-0.parquet")
    pool, root = prepare_pool(
        DataConfig(kind="llava", pool=str(tmp_path / "shards")), False, tmp_path / "cache"
    )
    assert pool == tmp_path / "shards"
    assert (root / "train-0" / "000000000.png").read_bytes() == png
    given = tmp_path / "given"
    given.mkdir()
    _, root = prepare_pool(
        DataConfig(kind="llava", pool=str(tmp_path / "shards"), image_root=str(given)),
        False,
        tmp_path / "cache",
    )
    assert root == given  # an explicit root wins


def test_a_subset_as_pool_brings_its_image_root(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    records = [{"id": f"r{i}", "image": f"{i}.png", "conversations": TURNS} for i in range(3)]
    write_records(tmp_path / "pool.json", records)
    write_subset(
        tmp_path / "s",
        method="random",
        indices=[2, 0],
        records=[records[2], records[0]],
        pool_path=tmp_path / "pool.json",
        pool_size=3,
        config={},
        seed=0,
        image_root=images,
    )
    for given in (tmp_path / "s", tmp_path / "s" / "subset.json"):
        pool, root = prepare_pool(DataConfig(kind="llava", pool=str(given)), False)
        assert pool == tmp_path / "s" / "subset.json" and root == images.resolve()


def test_a_folder_without_shards_is_named(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        InputNotFoundError, match=r"empty is a folder without \*\.parquet or \*\.arrow"
    ):
        prepare_pool(DataConfig(kind="llava", pool=str(tmp_path / "empty")), False)
