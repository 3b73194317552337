"""Turn a data config into a pool file and image root (generating ToyWorld when asked)."""

from __future__ import annotations

from pathlib import Path

from configs.errors import InputNotADirectoryError, InputNotFoundError
from experiments.schemas import DataConfig
from toyworld.make import make_world


def prepare_pool(data: DataConfig, progress: bool = True) -> tuple[Path, Path | None]:
    if data.kind == "toyworld":
        world = Path(data.toyworld.out_dir)
        if not (world / "world.json").is_file():
            make_world(data.toyworld, progress=progress)
        return world / "pool.json", world
    if not data.pool:
        raise InputNotFoundError("data.pool is not set: point it at a LLaVA JSON/JSONL file")
    pool = Path(data.pool)
    if not pool.is_file():
        raise InputNotFoundError(f"data.pool: no such file: {pool}")
    root = Path(data.image_root) if data.image_root else None
    if root is not None and not root.is_dir():
        raise InputNotADirectoryError(f"data.image_root: no such directory: {root}")
    return pool, root
