"""The whole selection stage against the naive reference algorithm, in and out of memory."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.methods.coincide.naive import naive_select
from curation.methods.coincide.rows import gather, plan_waves, read_waves
from curation.methods.coincide.scores import FeatureLayout
from curation.methods.coincide.select import MemoryBudget, select_coincide

LAYOUT = FeatureLayout(2, 3)
TINY_MEMORY = MemoryBudget(kernel_bytes=64, cache_bytes=0, block_bytes=8 * 8 * 20)


def _pool(seed: int, n: int, n_centroids: int, used: int):
    rng = np.random.default_rng(seed)
    centroids = rng.normal(size=(n_centroids, LAYOUT.dim))
    ids = rng.choice(n_centroids, size=min(used, n_centroids), replace=False)
    assignments = ids[rng.integers(0, len(ids), size=n)]
    x = centroids[assignments] + 0.7 * rng.normal(size=(n, LAYOUT.dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, assignments, centroids


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 120),
    st.integers(1, 12),
    st.integers(1, 12),
    st.floats(0, 1),
    st.sampled_from([0.05, 0.1, 1.0]),
)
def test_selection_equals_the_naive_algorithm(seed, n, n_centroids, used, fraction, tau):
    x, assignments, centroids = _pool(seed, n, n_centroids, used)
    target = int(fraction * n)
    expected = naive_select(x, assignments, centroids, LAYOUT.n_layers, LAYOUT.hidden, target, tau)
    fast = select_coincide(x, assignments, centroids, LAYOUT, fraction=fraction, tau=tau)
    assert fast.indices.dtype == np.int64
    assert np.array_equal(fast.indices, expected)
    bounded = select_coincide(
        x, assignments, centroids, LAYOUT, target=target, tau=tau, memory=TINY_MEMORY
    )
    assert np.array_equal(bounded.indices, expected)


def test_memory_mapped_float16_features(tmp_path):
    x, assignments, centroids = _pool(5, 300, 9, 9)
    path = tmp_path / "features.npy"
    np.save(path, x.astype(np.float16))
    mapped = np.load(path, mmap_mode="r")
    result = select_coincide(mapped, assignments, centroids, LAYOUT, fraction=0.3)
    expected = naive_select(
        np.asarray(mapped, dtype=np.float64),
        assignments,
        centroids,
        LAYOUT.n_layers,
        LAYOUT.hidden,
        90,
    )
    assert np.array_equal(result.indices, expected)
    assert len(result.indices) == 90 == len(set(result.indices.tolist()))


def test_many_small_waves_read_in_the_background(tmp_path):
    x, assignments, centroids = _pool(6, 400, 30, 30)
    np.save(tmp_path / "x.npy", x)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    waves = MemoryBudget(wave_bytes=2 * 40 * LAYOUT.dim * 8)  # ~40 rows a wave
    result = select_coincide(mapped, assignments, centroids, LAYOUT, fraction=0.2, memory=waves)
    expected = naive_select(x, assignments, centroids, LAYOUT.n_layers, LAYOUT.hidden, 80)
    assert np.array_equal(result.indices, expected)


def test_gather_reads_rows_in_any_order(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1000, 4))
    np.save(tmp_path / "x.npy", x)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    for rows in (
        rng.permutation(1000)[:700],
        rng.permutation(1000)[:9],
        np.array([5]),
        np.arange(0),
        np.arange(100, 200),
    ):
        assert np.array_equal(gather(mapped, rows), x[rows])
        assert np.array_equal(gather(mapped[10:], rows[rows < 990]), x[10:][rows[rows < 990]])
    assert np.array_equal(gather(x, np.array([3, 1])), x[[3, 1]])


def test_waves_group_consecutive_clusters_within_the_budget():
    sizes = {0: 3, 1: 3, 2: 10, 3: 1, 4: 1}
    assert plan_waves([0, 1, 2, 3, 4], sizes, row_bytes=1, wave_bytes=6) == [[0, 1], [2], [3, 4]]
    members = {0: np.array([4, 1]), 1: np.array([0]), 2: np.array([2, 3])}
    x = np.arange(10.0).reshape(5, 2)
    for prefetch in (True, False):
        got = list(read_waves(x, members, [[0, 1], [2]], prefetch=prefetch))
        assert [sorted(w) for w in got] == [[0, 1], [2]]
        assert np.array_equal(got[0][0], x[[4, 1]]) and np.array_equal(got[1][2], x[[2, 3]])


def test_non_contiguous_cluster_ids_and_empty_centroids():
    x, assignments, centroids = _pool(8, 200, 50, 4)  # 4 of 50 centroids have members
    result = select_coincide(x, assignments, centroids, LAYOUT, fraction=0.25)
    used = sorted(set(assignments.tolist()))
    assert sorted(p.cluster for p in result.plans) == used
    assert sum(p.taken for p in result.plans) == len(result.indices)
    for p in result.plans:
        assert p.size == int((assignments == p.cluster).sum())
    # cluster by cluster, in visiting order
    start = 0
    for p in result.plans:
        chunk = result.indices[start : start + p.taken]
        assert set(assignments[chunk].tolist()) <= {p.cluster}
        start += p.taken


def test_details_are_compact_json():
    x, assignments, centroids = _pool(2, 150, 6, 6)
    result = select_coincide(x, assignments, centroids, LAYOUT, fraction=0.2)
    details = result.details()
    text = json.dumps(details, allow_nan=False)
    assert details["selected"] == len(result.indices) and details["target"] == 30
    assert len(details["per_cluster"]["cluster"]) == details["clusters"] == 6
    assert len(text) < 2000


def test_repeatable_bytes():
    x, assignments, centroids = _pool(4, 400, 20, 20)
    first = select_coincide(x, assignments, centroids, LAYOUT, fraction=0.2).indices
    again = select_coincide(x.copy(), assignments.copy(), centroids, LAYOUT, fraction=0.2).indices
    assert first.tobytes() == again.tobytes()


def test_input_errors():
    x, assignments, centroids = _pool(1, 20, 3, 3)
    with pytest.raises(ValueError, match="layout"):
        select_coincide(x[:, :5], assignments, centroids, LAYOUT, fraction=0.5)
    with pytest.raises(ValueError, match="cluster ids"):
        select_coincide(x, assignments + 10, centroids, LAYOUT, fraction=0.5)
    with pytest.raises(ValueError, match="exactly one"):
        select_coincide(x, assignments, centroids, LAYOUT)
    with pytest.raises(ValueError, match="target"):
        select_coincide(x, assignments, centroids, LAYOUT, target=21)
