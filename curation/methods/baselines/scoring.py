"""Score-based selection shared by the baselines: bands of a ranking, and compact summaries.

    chosen = select_band(scores, budget=800, band="middle")
    details = {"scores": score_summary(scores), "selected_scores": score_summary(scores[chosen])}

Ranking: finite scores ascending, ties broken by pool position (a stable sort), so a band is a
pure function of the scores. A NaN score (e.g. a record with no answer token left after
truncation, or CLIP-Score of a text-only record) is in no band: NaN records are taken last, in
pool order, only when the budget exceeds the number of finite scores.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BANDS = ("low", "middle", "high")


def ranking(scores: np.ndarray) -> np.ndarray:
    """Positions of the finite scores, ascending (ties: lower position first)."""
    scores = np.asarray(scores, dtype=np.float64)
    finite = np.flatnonzero(np.isfinite(scores))
    return finite[np.argsort(scores[finite], kind="stable")].astype(np.int64)


def band_window(n: int, budget: int, band: str) -> tuple[int, int]:
    """[start, stop) of the `budget` ranks that `band` keeps out of `n` ranked scores.

    low: ranks 0..budget-1; high: the last `budget` ranks; middle: the window centred on the
    median, (n - budget) // 2 ranks skipped at the bottom (one fewer than at the top when the
    remainder is odd).
    """
    if band not in BANDS:
        raise ValueError(f"band must be one of {'|'.join(BANDS)}, got {band!r}")
    budget = min(budget, n)
    start = {"low": 0, "middle": (n - budget) // 2, "high": n - budget}[band]
    return start, start + budget


def select_band(scores: np.ndarray, budget: int, band: str) -> np.ndarray:
    """`budget` pool positions from `band` of the ranking, in ascending score order; NaN
    records fill up (pool order) when there are too few finite scores."""
    ranked = ranking(scores)
    start, stop = band_window(len(ranked), budget, band)
    chosen = ranked[start:stop]
    if len(chosen) < budget:
        missing = np.flatnonzero(~np.isfinite(np.asarray(scores, dtype=np.float64)))
        chosen = np.concatenate([chosen, missing[: budget - len(chosen)]])
    return chosen.astype(np.int64)


def score_summary(scores: np.ndarray, bins: int = 10) -> dict[str, Any]:
    """Count, range, mean, quartiles and a `bins`-bin histogram of the finite scores
    (6 significant digits: compact enough for a manifest, JSON-safe: no NaN)."""
    values = np.asarray(scores, dtype=np.float64)
    finite = values[np.isfinite(values)]
    summary: dict[str, Any] = {"n": int(values.size), "nan": int(values.size - finite.size)}
    if finite.size == 0:
        return summary
    low, high = float(finite.min()), float(finite.max())
    counts, edges = np.histogram(finite, bins=bins, range=(low, high) if high > low else None)
    quartiles = np.quantile(finite, [0.25, 0.5, 0.75])
    summary.update(
        {
            "min": _short(low),
            "max": _short(high),
            "mean": _short(finite.mean()),
            "quartiles": [_short(q) for q in quartiles],
            "histogram": {"edges": [_short(e) for e in edges], "counts": counts.tolist()},
        }
    )
    return summary


def _short(value: float) -> float:
    return float(f"{float(value):.6g}")


def band_details(scores: np.ndarray, chosen: np.ndarray, band: str) -> dict[str, Any]:
    """What a band selection records in its manifest: the band and both score summaries."""
    scores = np.asarray(scores, dtype=np.float64)
    return {
        "band": band,
        "scores": score_summary(scores),
        "selected_scores": score_summary(scores[chosen]),
    }
