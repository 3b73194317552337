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


def gather_rows(features: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """A copy of features[rows] (row numbers in any order)."""
    rows = np.asarray(rows)
    out = np.asarray(features[rows])
    if rows.size:
        release_rows(features, int(rows.min()), int(rows.max()) + 1)
    return out


def take_rows(features: np.ndarray, rows: slice | np.ndarray) -> np.ndarray:
    """`read_rows` for a slice without a step, `gather_rows` for row numbers."""
    if isinstance(rows, slice) and rows.step in (None, 1):
        start, stop, _ = rows.indices(len(features))
        return read_rows(features, start, stop)
    return gather_rows(features, rows)


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
