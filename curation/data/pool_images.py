"""The image root of a table pool whose images are embedded (curation.data.tablepool).

Every stage reads images as files under an image root, so the embedded images are written out
once, under the names the records give them, into <cache_dir>/pool-images/<pool id>/: that
folder is the pool's image root from then on, for validation, features, training and the
subsets drawn from the pool (their manifests name it). The folder is keyed by the shards'
paths, sizes and modification times (cheap to check on every command; a changed shard makes a
new folder) and built under a temporary name, so a killed writer leaves no half folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from tqdm import tqdm

from curation.data.fileio import atomic_directory, sha256_json
from curation.data.tablepool import has_embedded_images, iter_embedded_images, table_shards

POOL_IMAGES = "pool-images"


def pool_image_root(
    pool: str | os.PathLike, cache_dir: str | os.PathLike, progress: bool = False
) -> Path | None:
    """The folder of a table pool's embedded images, written on first use; None when its
    image column holds no bytes (paths only: give data.image_root)."""
    pool = Path(pool).resolve()
    if not has_embedded_images(pool):
        return None
    folder = Path(cache_dir).resolve() / POOL_IMAGES / pool_files_id(pool)[:16]
    if folder.is_dir():
        return folder
    with atomic_directory(folder) as tmp:
        bar = tqdm(desc=f"{pool.name}: images", unit=" images", disable=not progress)
        with bar:
            for name, data in iter_embedded_images(pool):
                target = tmp / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                bar.update()
    return folder


def pool_files_id(pool: Path) -> str:
    """Identity of a table pool's files without reading them: path, size, mtime per shard."""
    shards = []
    for shard in table_shards(pool):
        stat = shard.stat()
        shards.append([str(shard), stat.st_size, stat.st_mtime_ns])
    return sha256_json({"pool": str(pool), "shards": shards})
