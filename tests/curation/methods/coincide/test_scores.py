"""Transferability and budget allocation, on hand-computed cases."""

import math

import numpy as np
import pytest

from curation.methods.coincide.scores import FeatureLayout, allocate, softmax, transferability


def _plan(plans):
    return [(p.cluster, p.requested, p.taken) for p in plans]


def test_round_half_to_even():
    # equal scores: P = 1/2 exactly; 5 * 1/2 = 2.5 -> 2, then the last cluster takes all 3 left
    plans = allocate([0, 1], [100, 100], np.array([0.3, 0.3]), np.array([0.6, 0.6]), 5, 0.1)
    assert _plan(plans) == [(0, 2, 2), (1, 3, 3)]
    # 7 * 1/2 = 3.5 -> 4
    plans = allocate([0, 1], [100, 100], np.array([0.3, 0.3]), np.array([0.6, 0.6]), 7, 0.1)
    assert _plan(plans) == [(0, 4, 4), (1, 3, 3)]


def test_small_cluster_overflow_hands_its_budget_down():
    # tau = 1, D = 1: scores (2 ln 2, 0, 0) -> P = (4, 1, 1) / 6
    transfer = np.array([2 * math.log(2), 0.0, 0.0])
    plans = allocate([0, 1, 2], [1, 10, 10], transfer, np.ones(3), 12, 1.0)
    # cluster 0: round(12 * 4/6) = 8 > 1 -> whole (1); 11 left, P = (1/2, 1/2) over the rest:
    # round(5.5) = 6; the last takes the 5 left
    assert _plan(plans) == [(0, 8, 1), (1, 6, 6), (2, 5, 5)]
    assert plans[0].whole and not plans[1].whole
    assert plans[1].share == pytest.approx(0.5)
    assert plans[2].share == 1.0


def test_the_last_cluster_can_leave_budget_unspent():
    # the reference's rule: a whole cluster at the end of the visit cannot pass budget on
    plans = allocate([0, 1], [100, 1], np.array([1.0, 0.0]), np.ones(2), 50, 1.0)
    assert [p.cluster for p in plans] == [0, 1]
    assert sum(p.taken for p in plans) < 50


def test_visit_order_is_descending_share_then_ascending_id():
    transfer = np.array([0.1, 0.5, 0.1, 0.5])
    plans = allocate([5, 9, 2, 4], [10] * 4, transfer, np.ones(4), 8, 0.1)
    assert [p.cluster for p in plans] == [9, 4, 5, 2]


def test_non_contiguous_ids_keep_their_numbers():
    plans = allocate(np.array([3, 7, 42]), [4, 4, 4], np.array([0.2, 0.2, 0.2]), np.ones(3), 6, 0.1)
    assert [p.cluster for p in plans] == [3, 7, 42]
    assert [p.taken for p in plans] == [2, 2, 2]


def test_density_divides_the_score():
    # same S, half the density: score doubles
    plans = allocate([0, 1], [50, 50], np.array([0.4, 0.4]), np.array([1.0, 0.5]), 10, 0.5)
    assert plans[0].cluster == 1
    assert plans[0].share == pytest.approx(softmax(np.array([0.8, 0.4]) / 0.5)[0])


def test_bad_inputs():
    with pytest.raises(ValueError, match="densities"):
        allocate([0], [1], np.array([0.1]), np.array([0.0]), 1, 0.1)
    with pytest.raises(ValueError, match="tau"):
        allocate([0], [1], np.array([0.1]), np.array([1.0]), 1, 0.0)
    assert allocate([], [], np.zeros(0), np.zeros(0), 0, 0.1) == []


def _centroids(language: np.ndarray, visual_seed: int = 0) -> np.ndarray:
    """Two layers of hidden 2: [visual, language] per layer; language split over both layers."""
    rng = np.random.default_rng(visual_seed)
    k = len(language)
    out = rng.normal(size=(k, 2, 2, 2))  # visual halves: noise that must not matter
    out[:, :, 1, :] = language.reshape(k, 2, 2)
    return out.reshape(k, 8)


def _rotated(degrees: float) -> np.ndarray:
    a = math.radians(degrees)
    return np.array([math.cos(a), math.sin(a), 0.0, 0.0])


def test_transferability_masks_near_duplicates_and_guards_an_all_masked_row():
    # c0 in the middle: 20 degrees from c1 and from c2 (cos 0.94 > 0.9, masked); c1, c2 are 40
    # degrees apart (cos 0.766, kept). Row 0 has every entry masked -> S = 0, not NaN.
    language = np.stack([_rotated(0), _rotated(20), _rotated(-20)])
    s = transferability(_centroids(language), FeatureLayout(2, 2))
    cos40 = math.cos(math.radians(40))
    assert s.tolist() == pytest.approx([0.0, cos40, cos40], abs=1e-12)


def test_transferability_uses_only_the_language_halves():
    rng = np.random.default_rng(1)
    language = rng.normal(size=(6, 4))
    layout = FeatureLayout(2, 2)
    a = transferability(_centroids(language, 0), layout)
    b = transferability(_centroids(language, 1), layout)
    assert np.array_equal(a, b)
    unit = language / np.linalg.norm(language, axis=1, keepdims=True)
    sim = unit @ unit.T
    expected = [np.mean(row[row <= 0.9]) for row in sim]
    assert a == pytest.approx(expected, abs=1e-12)


def test_transferability_in_blocks_equals_whole():
    rng = np.random.default_rng(2)
    cent = rng.normal(size=(37, 8))
    layout = FeatureLayout(2, 2)
    assert np.allclose(
        transferability(cent, layout, block_rows=5),
        transferability(cent, layout),
        atol=1e-14,
        rtol=0,
    )


def test_layout_checks_the_width():
    with pytest.raises(ValueError, match="layout"):
        FeatureLayout(2, 3).language(np.zeros((4, 8)))
