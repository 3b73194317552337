"""Spherical k-means: deterministic for a seed, cached, nearest-centroid assignment."""

import numpy as np
import pytest

from curation.features import kmeans as km
from curation.features.kmeans import array_sha256, assign, spherical_kmeans


def _blobs(
    seed: int = 0, k: int = 6, per: int = 60, dim: int = 16
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, dim))
    labels = np.repeat(np.arange(k), per)
    x = centres[labels] * 3 + rng.normal(size=(len(labels), dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    order = rng.permutation(len(labels))
    return x[order].astype(np.float16), labels[order]


def test_deterministic_and_cached(tmp_path, monkeypatch):
    x, _ = _blobs()
    a = spherical_kmeans(x, 6, niter=20, seed=1234, cache_dir=tmp_path / "a")
    b = spherical_kmeans(x.copy(), 6, niter=20, seed=1234, cache_dir=tmp_path / "b")
    assert a.assignments.tobytes() == b.assignments.tobytes()
    assert a.centroids.tobytes() == b.centroids.tobytes()
    assert a.key == b.key and a.path is not None and (a.path / "meta.json").is_file()

    def no_training(*args, **kwargs):
        raise AssertionError("the cached clustering should have been reused")

    monkeypatch.setattr(km, "_train_faiss", no_training)
    again = spherical_kmeans(x, 6, niter=20, seed=1234, cache_dir=tmp_path / "a")
    assert again.assignments.tobytes() == a.assignments.tobytes()
    assert again.assignments.dtype == np.int64 and again.centroids.dtype == np.float32


def test_key_changes_with_inputs(tmp_path):
    x, _ = _blobs()
    base = spherical_kmeans(x, 6, niter=5, seed=1, cache_dir=tmp_path)
    assert spherical_kmeans(x, 6, niter=5, seed=2, cache_dir=tmp_path).key != base.key
    assert spherical_kmeans(x, 5, niter=5, seed=1, cache_dir=tmp_path).key != base.key
    assert spherical_kmeans(x, 6, niter=6, seed=1, cache_dir=tmp_path).key != base.key
    assert spherical_kmeans(x, 6, niter=5, seed=1, features_id="other").key != base.key


def test_recovers_separated_clusters_with_unit_centroids():
    x, labels = _blobs(seed=3)
    result = spherical_kmeans(x, 6, niter=25, seed=1234)
    assert np.allclose(np.linalg.norm(result.centroids, axis=1), 1.0, atol=1e-5)
    for label in range(6):  # every true cluster lands in one found cluster, and vice versa
        assert len(set(result.assignments[labels == label].tolist())) == 1
    assert len(set(result.assignments.tolist())) == 6


def test_assignment_is_the_nearest_centroid_by_inner_product():
    x, _ = _blobs(seed=4)
    result = spherical_kmeans(x, 4, niter=10, seed=7)
    scores = x.astype(np.float32) @ result.centroids.T
    assert np.array_equal(result.assignments, scores.argmax(axis=1))
    assert np.array_equal(assign(x, result.centroids, block_rows=7), result.assignments)


def test_ties_go_to_the_lowest_centroid():
    centroids = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    assert assign(np.array([[1.0, 0.0]]), centroids).tolist() == [0]


def test_memory_mapped_input_and_training_sample(tmp_path):
    x, _ = _blobs(seed=5)
    np.save(tmp_path / "x.npy", x)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    assert array_sha256(mapped) == array_sha256(x)
    small = x.shape[1] * 4 * 100  # room for 100 training rows of 360
    a = spherical_kmeans(mapped, 6, niter=10, seed=3, max_train_bytes=small)
    b = spherical_kmeans(x, 6, niter=10, seed=3, max_train_bytes=small)
    assert a.assignments.tobytes() == b.assignments.tobytes()
    assert len(a.assignments) == len(x)


def test_torch_backend_is_deterministic_and_spherical():
    x, labels = _blobs(seed=6)
    sample = np.ascontiguousarray(x, dtype=np.float32)
    a = km._train_torch(sample, 6, 15, seed=9, device="cpu", block_rows=50)
    b = km._train_torch(sample, 6, 15, seed=9, device="cpu", block_rows=50)
    assert a.tobytes() == b.tobytes()
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    found = assign(x, a)
    assert len({tuple(sorted(set(found[labels == c].tolist()))) for c in range(6)}) >= 5


def test_bad_arguments():
    x, _ = _blobs()
    with pytest.raises(ValueError, match="k="):
        spherical_kmeans(x[:3], 4)
    with pytest.raises(ValueError, match="device"):
        spherical_kmeans(x, 2, device="tpu")
