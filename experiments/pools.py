"""Turn a data config into a pool and image root (generating ToyWorld when asked)."""

from __future__ import annotations

from pathlib import Path

from configs.compose import ConfigError
from configs.errors import InputNotADirectoryError, InputNotFoundError
from curation.data.pool_images import pool_image_root
from curation.data.subset import RECORDS, is_finished, read_subset, subset_image_root
from curation.data.tablepool import is_table_pool
from experiments.schemas import DataConfig
from toyworld.make import make_world

# where a standalone command keeps what it derives from a pool (as `vlmdata curate`'s cache_dir)
DEFAULT_CACHE = "outputs/cache"


def prepare_pool(
    data: DataConfig, progress: bool = True, cache_dir: str | Path = DEFAULT_CACHE
) -> tuple[Path, Path | None]:
    """(pool, image root). Without data.image_root: a pool of parquet/arrow shards whose images
    are embedded gets the folder they are written to once, under `cache_dir`
    (curation.data.pool_images); a subset used as a pool (its folder or its subset.json) the
    image root its manifest names."""
    check_pool_keys(data)
    if data.kind == "toyworld":
        world = Path(data.toyworld.out_dir)
        if not (world / "world.json").is_file():
            make_world(data.toyworld, progress=progress)
        return world / "pool.json", world
    if not data.pool:
        raise InputNotFoundError(
            "data.pool is not set: point it at a LLaVA JSON/JSONL file or a folder of "
            "parquet shards"
        )
    pool = Path(data.pool).expanduser()
    if pool.is_dir() and is_finished(pool):
        pool = pool / RECORDS
    if not pool.exists():
        raise InputNotFoundError(f"data.pool: no such file: {pool}")
    if not (pool.is_file() or is_table_pool(pool)):
        raise InputNotFoundError(f"data.pool: {pool} is a folder without *.parquet or *.arrow")
    root = Path(data.image_root).expanduser() if data.image_root else None
    if root is not None and not root.is_dir():
        raise InputNotADirectoryError(f"data.image_root: no such directory: {root}")
    if root is None and is_table_pool(pool):
        root = pool_image_root(pool, Path(cache_dir), progress=progress)
    if root is None and pool.name == RECORDS and is_finished(pool.parent):
        root = subset_image_root(read_subset(pool.parent))
    return pool, root


def check_pool_keys(data: DataConfig) -> None:
    """A generated world reads no pool: data.pool or data.image_root given with data=toyworld
    (the default) would be ignored, and a ToyWorld curated in their place."""
    given = [key for key in ("pool", "image_root") if getattr(data, key)]
    if data.kind == "toyworld" and given:
        keys = " and ".join(f"data.{key}" for key in given)
        raise ConfigError(
            f"{keys} set, but data=toyworld (the default) generates a world and reads no "
            f"pool: add data=llava to read your own LLaVA pool"
        )
