"""A sweep's arms against random and full, on hand-made evals whose Δ is known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.report import load_runs
from experiments.significance import arm_name, compare_arms, excludes_zero

SEEDS = (0, 1, 2)


def items(shift: float = 0.0, factor: float = 1.0, seed: int = 0) -> dict[str, list[float]]:
    """Two tasks of 0/1 items that differ by seed; shift or scale every item."""
    rng = np.random.default_rng(100 + seed)
    return {
        task: [factor * float(v) + shift for v in rng.random(n) < 0.6]
        for task, n in (("colour", 40), ("count", 24))
    }


def arm(shift: float = 0.0, factor: float = 1.0, seeds=SEEDS) -> dict:
    return {s: items(shift, factor, s) for s in seeds}


def compared(paired_sweep, arms: dict, **kw):
    return compare_arms(*load_runs(paired_sweep(arms, **kw)), resamples=300)


def test_an_arm_identical_to_random_has_zero_delta_and_covers_zero(paired_sweep):
    c = compared(paired_sweep, {("random", 0.2, ""): arm(), ("same", 0.2, ""): arm()})
    d = c[("same", 0.2, "")].random.comparison
    for part in ("score", "head", "tail"):
        assert (d.overall[part].delta, d.overall[part].low, d.overall[part].high) == (0, 0, 0)
        assert not excludes_zero(d.overall[part])
    assert c[("random", 0.2, "")].random is None  # the baseline is not compared with itself


def test_plus_one_on_every_item_is_the_scale_exactly_with_a_degenerate_interval(paired_sweep):
    c = compared(paired_sweep, {("random", 0.2, ""): arm(), ("better", 0.2, ""): arm(1.0)})
    versus = c[("better", 0.2, "")].random
    assert versus.seeds == SEEDS and versus.note == ""
    for d in [*versus.comparison.overall.values(), versus.comparison.per_task["count"]["tail"]]:
        assert (d.delta, d.low, d.high, d.p_improvement) == (100.0, 100.0, 100.0, 1.0)
        assert excludes_zero(d)


def test_delta_vs_full_and_relative_performance(paired_sweep):
    arms = {
        ("full", None, ""): arm(),
        ("random", 0.2, ""): arm(factor=0.5),
    }
    c = compared(paired_sweep, arms)
    random = c[("random", 0.2, "")]
    assert random.random is None and c[("full", None, "")].full is None
    assert random.full.baseline == "full" and random.full.comparison.overall["score"].delta < 0
    # every item halved: relative performance is 50% on every resample
    relative = random.relative
    assert (relative.delta, relative.low, relative.high) == pytest.approx((50.0, 50.0, 50.0))


def test_missing_seeds_are_left_out_and_named(paired_sweep):
    arms = {("random", 0.2, ""): arm(seeds=(0, 1)), ("better", 0.2, ""): arm(1.0)}
    versus = compared(paired_sweep, arms)[("better", 0.2, "")].random
    assert versus.seeds == (0, 1)
    assert versus.note == "compared on seeds 0, 1 (seed 2: no random run)"
    assert versus.comparison.overall["score"].n_seeds == 2


def test_no_random_arm_at_a_budget_is_said_not_computed(paired_sweep):
    arms = {("random", 0.2, ""): arm(), ("better", 0.5, ""): arm(1.0)}
    versus = compared(paired_sweep, arms)[("better", 0.5, "")].random
    assert versus.comparison is None and versus.note == "no random arm"


def test_controls_are_arms_of_their_own_against_random(paired_sweep):
    arms = {
        ("random", 0.2, ""): arm(),
        ("random", 0.2, "aa"): arm(0.05),
        ("oracle", 0.2, "oracle"): arm(0.2),
    }
    c = compared(paired_sweep, arms)
    assert c[("random", 0.2, "aa")].random.comparison.overall["score"].delta == pytest.approx(5)
    assert c[("oracle", 0.2, "oracle")].random.comparison.overall["score"].delta == pytest.approx(
        20
    )
    assert arm_name("random", 0.2, "aa") == "random (A/A) @0.2"
    assert arm_name("oracle", 0.2, "oracle") == "oracle (ground truth) @0.2"
    assert arm_name("balanced", 0.2, "oracle") == "balanced (oracle, ground truth) @0.2"


def test_the_same_sweep_gives_the_same_intervals(paired_sweep):
    noisy = {s: {t: [1.0 - v for v in vs] for t, vs in items(seed=s + 7).items()} for s in SEEDS}
    sweep = paired_sweep({("random", 0.2, ""): arm(), ("other", 0.2, ""): noisy})
    first = compare_arms(*load_runs(sweep))[("other", 0.2, "")].random.comparison
    again = compare_arms(*load_runs(sweep))[("other", 0.2, "")].random.comparison
    assert first == again and first.resamples == 2000
    assert first.overall["score"].low < first.overall["score"].high
