"""Self-Sup prototypicality on hand-made embeddings: distances to the nearest centroid, and the
hard / easy keep rules."""

import numpy as np
import pytest

from curation.features.extract import FeatureSet, Reference
from curation.features.reference_pass import unit_rows
from curation.method import CurationContext
from curation.methods.baselines.self_sup import (
    SelfSupParams,
    SelfSupSelection,
    UnitRows,
    prototypicality,
)


def test_prototypicality_is_cosine_distance_to_the_nearest_centroid():
    centroids = np.array([[1.0, 0.0], [0.0, 1.0]])
    angles = np.radians([0.0, 30.0, 45.0, 80.0])
    x = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    expected = 1 - np.cos(np.radians([0.0, 30.0, 45.0, 10.0]))
    np.testing.assert_allclose(prototypicality(x, centroids), expected, atol=1e-12)


def _context(tmp_path, monkeypatch, vectors: np.ndarray) -> CurationContext:
    np.save(tmp_path / "mean_last.npy", vectors.astype(np.float32))
    features = FeatureSet(tmp_path, {"kinds": ["mean_last"], "sha256": {"mean_last": "planted"}})
    monkeypatch.setattr(
        "curation.methods.baselines.self_sup.reference_features",
        lambda params, ctx: (features, Reference("fp", lambda: None, "fake")),
    )
    return CurationContext(
        pool_path=tmp_path / "pool.json",
        image_root=None,
        records=[{}] * len(vectors),
        pool_sha256="0" * 64,
        cache_dir=tmp_path / "cache",
        run_dir=tmp_path,
        seed=0,
        progress=False,
    )


@pytest.fixture
def planted():
    """3 tight clusters of 30 (radius ~0.05) around orthogonal axes in 16-d, and 3 records
    spread off-axis (the hard ones): positions 90, 91, 92."""
    rng = np.random.default_rng(0)
    axes = np.eye(16)[:3] * 10
    tight = np.concatenate([a + rng.normal(scale=0.5, size=(30, 16)) for a in axes])
    loose = axes + rng.normal(scale=6.0, size=(3, 16))
    return np.concatenate([tight, loose])


def test_keep_hard_takes_the_least_prototypical(tmp_path, monkeypatch, planted):
    ctx = _context(tmp_path, monkeypatch, planted)
    hard = SelfSupSelection(SelfSupParams(k=3, keep="hard")).select(ctx, 3)
    assert sorted(hard.indices.tolist()) == [90, 91, 92]
    assert hard.details["keep"] == "hard" and hard.details["kmeans"]["k"] == 3
    easy = SelfSupSelection(SelfSupParams(k=3, keep="easy")).select(ctx, 10)
    assert not set(easy.indices.tolist()) & {90, 91, 92}
    distance = prototypicality(unit_rows(planted), np.eye(16)[:3])
    assert easy.details["selected_scores"]["max"] <= np.sort(distance)[20]


def test_unit_rows_view_and_blocked_scores_equal_the_whole_matrix():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(50, 6)).astype(np.float32) * rng.uniform(0.1, 9, size=(50, 1))
    view = UnitRows(x, block_rows=7)
    assert view.shape == (50, 6) and len(view) == 50
    np.testing.assert_array_equal(np.ascontiguousarray(view, dtype=np.float32), unit_rows(x))
    np.testing.assert_array_equal(view[[3, 1]], unit_rows(x)[[3, 1]])
    centroids = unit_rows(rng.normal(size=(4, 6)))
    np.testing.assert_allclose(
        prototypicality(view, centroids, block_rows=7),
        1 - (unit_rows(x).astype(np.float64) @ centroids.astype(np.float64).T).max(1),
        atol=1e-12,
    )
