"""Score bands and summaries shared by the score-based baselines; EL2N and Perplexity read the
right column of the reference pass and keep the right ranks."""

import json

import numpy as np
import pytest

from curation.features.extract import Reference
from curation.method import CurationContext
from curation.methods.baselines.el2n import El2nParams, El2nSelection
from curation.methods.baselines.perplexity import PerplexityParams, PerplexitySelection
from curation.methods.baselines.scoring import band_window, ranking, score_summary, select_band

# pool position -> score; the ascending ranking is 3, 0, 5, 1, 4, 2 (position 6 is NaN)
SCORES = np.array([0.2, 0.5, 0.9, 0.1, 0.7, 0.3, np.nan])


def test_ranking_is_ascending_with_ties_in_pool_order():
    assert ranking(SCORES).tolist() == [3, 0, 5, 1, 4, 2]
    assert ranking(np.array([1.0, 0.0, 1.0, 0.0])).tolist() == [1, 3, 0, 2]


@pytest.mark.parametrize(
    ("band", "budget", "expected"),
    [
        ("low", 2, [3, 0]),
        ("high", 2, [4, 2]),
        ("middle", 2, [5, 1]),  # ranks 2..3 of 6: two skipped at each end
        ("middle", 3, [0, 5, 1]),  # ranks 1..3: one skipped below, two above (odd remainder)
        ("high", 6, [3, 0, 5, 1, 4, 2]),
    ],
)
def test_bands_keep_the_right_ranks(band, budget, expected):
    assert select_band(SCORES, budget, band).tolist() == expected


def test_nan_scores_are_taken_last_in_pool_order():
    scores = np.array([np.nan, 0.3, np.nan, 0.1])
    assert select_band(scores, 3, "high").tolist() == [3, 1, 0]
    assert select_band(scores, 4, "low").tolist() == [3, 1, 0, 2]


def test_band_window_rejects_unknown_band():
    assert band_window(10, 4, "middle") == (3, 7)
    with pytest.raises(ValueError, match="low|middle|high"):
        band_window(10, 4, "top")


def test_summary_is_compact_json_without_nan():
    summary = score_summary(SCORES, bins=4)
    json.dumps(summary, allow_nan=False)
    assert summary["n"] == 7 and summary["nan"] == 1
    assert summary["min"] == 0.1 and summary["max"] == 0.9
    assert sum(summary["histogram"]["counts"]) == 6 and len(summary["histogram"]["edges"]) == 5
    assert score_summary(np.array([np.nan])) == {"n": 1, "nan": 1}
    assert sum(score_summary(np.array([2.0, 2.0]))["histogram"]["counts"]) == 2


def _fake_pass(tmp_path, monkeypatch, stats: np.ndarray):
    """A finished feature set holding only answer_stats, served in place of the real pass."""
    from curation.features.extract import FeatureSet

    np.save(tmp_path / "answer_stats.npy", stats.astype(np.float32))
    features = FeatureSet(tmp_path, {"kinds": ["answer_stats"], "sha256": {"answer_stats": "x"}})
    reference = Reference("fingerprint", load=lambda: None, name="fake")
    monkeypatch.setattr(
        "curation.methods.baselines.answer_band.reference_features",
        lambda params, ctx: (features, reference),
    )
    return CurationContext(
        pool_path=tmp_path / "pool.json",
        image_root=None,
        records=[{}] * len(stats),
        pool_sha256="0" * 64,
        cache_dir=tmp_path,
        run_dir=tmp_path,
        seed=0,
        progress=False,
    )


# columns: mean_nll, el2n, aum, n_answer_tokens; NLL and EL2N rank the records in opposite orders
STATS = np.array(
    [
        [0.5, 0.4, 0.1, 3],
        [0.1, 0.9, 0.2, 3],
        [0.3, 0.2, 0.3, 3],
        [0.4, 0.6, 0.4, 3],
        [0.2, 0.8, 0.5, 3],
        [np.nan, np.nan, np.nan, 0],
    ]
)


def test_el2n_uses_the_el2n_column(tmp_path, monkeypatch):
    ctx = _fake_pass(tmp_path, monkeypatch, STATS)
    high = El2nSelection(El2nParams(band="high")).select(ctx, 2)
    assert high.indices.tolist() == [4, 1]
    low = El2nSelection(El2nParams(band="low")).select(ctx, 2)
    assert low.indices.tolist() == [2, 0]
    assert low.details["band"] == "low" and low.details["scores"]["nan"] == 1
    assert low.details["reference"]["name"] == "fake"


def test_perplexity_uses_the_nll_column(tmp_path, monkeypatch):
    ctx = _fake_pass(tmp_path, monkeypatch, STATS)
    assert PerplexitySelection(PerplexityParams(band="high")).select(ctx, 2).indices.tolist() == [
        3,
        0,
    ]
    middle = PerplexitySelection(PerplexityParams(band="middle")).select(ctx, 1)
    assert middle.indices.tolist() == [2]
    assert middle.details["selected_scores"]["min"] == pytest.approx(0.3)
