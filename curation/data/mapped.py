"""Row blocks of a memory-mapped feature matrix, read so that the process keeps none of them.

Reading a 25 GiB `np.load(..., mmap_mode="r")` file block by block leaves every page it
touched mapped into the process: its RSS grows to the file's size (page cache, reclaimable,
but what `ps`, SLURM's accounting and a reviewer's memory limit see). `read_rows` and
`gather_rows` copy the rows asked for and then tell the kernel (madvise DONTNEED) that the
process no longer needs those pages: they stay in the page cache for the next pass, but the
process' RSS stays at the size of its own arrays. Plain arrays (and views that do not start
at their mapping's array) are read as they are.
"""

from __future__ import annotations

import mmap

import numpy as np


def read_rows(features: np.ndarray, start: int, stop: int) -> np.ndarray:
    """A copy of features[start:stop] (clipped to the rows there are)."""
    stop = min(stop, len(features))
    out = np.array(features[start:stop])
    release_rows(features, start, stop)
    return out


def gather_rows(features: np.ndarray, rows: np.ndarray, chunk_bytes: int = 64 << 20) -> np.ndarray:
    """A copy of features[rows] (row numbers in any order; ascending keeps each chunk's pages
    together), gathered `chunk_bytes` of rows at a time, each chunk's pages released after it."""
    rows = np.asarray(rows)
    if _mapping(features) is None:
        return np.asarray(features[rows])
    out = np.empty((len(rows), *features.shape[1:]), dtype=features.dtype)
    step = max(1, chunk_bytes // max(1, features.strides[0]))
    for start in range(0, len(rows), step):
        part = rows[start : start + step]
        out[start : start + len(part)] = features[part]
        release_rows(features, int(part.min()), int(part.max()) + 1)
    if len(rows):  # pages the kernel mapped around a fault, between the chunks' ranges
        release_rows(features, int(rows.min()), int(rows.max()) + 1)
    return out


def take_rows(features: np.ndarray, rows: slice | np.ndarray) -> np.ndarray:
    """`read_rows` for a slice without a step, `gather_rows` for row numbers."""
    if isinstance(rows, slice) and rows.step in (None, 1):
        start, stop, _ = rows.indices(len(features))
        return read_rows(features, start, stop)
    return gather_rows(features, rows)


def float32_rows(features: np.ndarray, block_rows: int = 16384) -> np.ndarray:
    """All rows as one float32 array in RAM, read `block_rows` at a time by `read_rows`."""
    out = np.empty(features.shape, dtype=np.float32)
    for start in range(0, len(features), block_rows):
        out[start : start + block_rows] = read_rows(features, start, start + block_rows)
    return out


def release_rows(features: np.ndarray, start: int, stop: int) -> None:
    """Drop rows [start, stop) of a memory-mapped array from this process' mapping (a no-op
    for anything else). The rows stay readable: a later access maps them in again."""
    where = _mapping(features)
    if where is None or stop <= start:
        return
    buffer, first_byte = where
    row_bytes = features.strides[0]
    begin = first_byte + start * row_bytes
    end = min(len(buffer), first_byte + stop * row_bytes)
    begin -= begin % mmap.PAGESIZE
    if end > begin:
        buffer.madvise(mmap.MADV_DONTNEED, begin, end - begin)


def _mapping(features: np.ndarray) -> tuple[mmap.mmap, int] | None:
    """The mmap behind a C-contiguous memmap and the byte where its row 0 starts in it."""
    if not isinstance(features, np.memmap) or not hasattr(mmap, "MADV_DONTNEED"):
        return None
    buffer = getattr(features, "_mmap", None)
    if not isinstance(buffer, mmap.mmap) or features.base is not buffer:
        return None  # a view: where it starts in the mapping is not known here
    if not features.flags.c_contiguous:
        return None
    return buffer, features.offset % mmap.ALLOCATIONGRANULARITY
