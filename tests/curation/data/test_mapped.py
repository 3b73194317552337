"""Row reads from a memory-mapped matrix: the same values, and the pages leave the process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from curation.data.mapped import float32_rows, gather_rows, read_rows, take_rows

ROWS, WIDTH = 4096, 1024  # 16 MiB of float32
# a page fault may also map up to 16 cached neighbours (Linux' fault_around_bytes, 64 KiB)
# beyond the rows read: what may stay mapped at each end of what was released
LEFT_MAPPED = 2 * 64 * 1024


def mapped_rss_bytes(path: Path) -> int:
    """Resident bytes of this process' mappings of `path` (/proc/self/smaps)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5 and ":" in head[3]:
            inside = line.endswith(str(path))
        elif inside and line.startswith("Rss:"):
            total += int(head[1]) * 1024
    return total


@pytest.fixture
def matrix(tmp_path: Path) -> tuple[Path, np.ndarray]:
    values = np.random.default_rng(0).standard_normal((ROWS, WIDTH)).astype(np.float32)
    path = tmp_path / "features.npy"
    np.save(path, values)
    return path, values


linux_only = pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="needs /proc")


@linux_only
def test_block_reads_leave_no_pages_mapped(matrix):
    path, values = matrix
    features = np.load(path, mmap_mode="r")
    for start in range(0, ROWS, 512):
        block = read_rows(features, start, start + 512)
        np.testing.assert_array_equal(block, values[start : start + 512])
    assert mapped_rss_bytes(path) <= LEFT_MAPPED


@linux_only
def test_a_float32_copy_of_all_rows_leaves_no_pages_mapped(tmp_path):
    values = np.random.default_rng(2).standard_normal((ROWS, WIDTH)).astype(np.float16)
    path = tmp_path / "half.npy"
    np.save(path, values)
    copy = float32_rows(np.load(path, mmap_mode="r"), block_rows=1000)
    assert copy.dtype == np.float32
    np.testing.assert_array_equal(copy, values.astype(np.float32))
    assert mapped_rss_bytes(path) <= LEFT_MAPPED


@linux_only
def test_plain_slicing_keeps_the_pages_mapped(matrix):
    """The control: what read_rows prevents does happen without it."""
    path, values = matrix
    features = np.load(path, mmap_mode="r")
    for start in range(0, ROWS, 512):
        np.array(features[start : start + 512])
    assert mapped_rss_bytes(path) >= values.nbytes // 2


@linux_only
def test_gathered_rows_in_any_order_equal_plain_indexing(matrix):
    path, values = matrix
    features = np.load(path, mmap_mode="r")
    rows = np.random.default_rng(1).permutation(ROWS)[:700]
    np.testing.assert_array_equal(gather_rows(features, rows), values[rows])
    assert mapped_rss_bytes(path) <= LEFT_MAPPED
    in_chunks = gather_rows(features, np.sort(rows), chunk_bytes=50 * WIDTH * 4)  # 14 chunks
    np.testing.assert_array_equal(in_chunks, values[np.sort(rows)])
    assert mapped_rss_bytes(path) <= LEFT_MAPPED
    np.testing.assert_array_equal(take_rows(features, slice(10, 30)), values[10:30])
    np.testing.assert_array_equal(take_rows(features, rows[:5]), values[rows[:5]])


def test_arrays_in_memory_and_views_are_read_as_they_are(matrix):
    path, values = matrix
    np.testing.assert_array_equal(read_rows(values, 100, 5000), values[100:])
    view = np.load(path, mmap_mode="r")[7:]  # not its mapping's whole array: nothing released
    np.testing.assert_array_equal(read_rows(view, 3, 9), values[10:16])
    np.testing.assert_array_equal(gather_rows(view, np.array([5, 0])), values[[12, 7]])
