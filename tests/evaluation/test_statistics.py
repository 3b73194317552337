"""Paired bootstrap over seeds and items, on inputs whose answer is known by construction."""

from __future__ import annotations

import dataclasses
import itertools
import json

import numpy as np
import pytest

from configs.errors import InputNotFoundError
from evaluation.errors import EvalError
from evaluation.statistics import TaskItems, load_items, paired_difference, paired_relative


def runs(tasks: dict[str, np.ndarray], longtail: list[str] | None = None, **kw) -> dict:
    """seed -> task -> items, from one (n_seeds, n_items) score matrix per task."""
    n_seeds = len(next(iter(tasks.values())))
    labels = dict(enumerate(longtail)) if longtail else {}
    return {
        s: {
            name: TaskItems(dict(enumerate(m[s].tolist())), labels, **kw)
            for name, m in tasks.items()
        }
        for s in range(n_seeds)
    }


@pytest.fixture
def base() -> np.ndarray:
    # 0/100 correctness: every difference below is exact in floating point
    return (np.random.default_rng(1).random((3, 40)) < 0.6) * 100.0


def test_identical_arms_give_zero_and_a_zero_interval(base):
    longtail = ["head", "tail"] * 20
    c = paired_difference(runs({"a": base}, longtail), runs({"a": base}, longtail), resamples=200)
    for d in [*c.per_task["a"].values(), *c.overall.values()]:
        assert (d.delta, d.low, d.high, d.p_improvement) == (0.0, 0.0, 0.0, 0.0)
    assert set(c.per_task["a"]) == set(c.overall) == {"score", "head", "tail"}


def test_a_constant_shift_is_recovered_exactly(base):
    c = paired_difference(runs({"a": base + 2.5}), runs({"a": base}), resamples=200)
    d = c.per_task["a"]["score"]
    assert (d.delta, d.low, d.high, d.p_improvement) == (2.5, 2.5, 2.5, 1.0)
    assert (d.n_seeds, d.n_items) == (3, 40)


def test_a_shift_on_one_seed_counts_once_and_widens_the_interval(base):
    every = paired_difference(runs({"a": base + 3.0}), runs({"a": base}), resamples=500)
    one = base.copy()
    one[1] += 3.0
    single = paired_difference(runs({"a": one}), runs({"a": base}), resamples=500)
    d = single.per_task["a"]["score"]
    assert d.delta == pytest.approx(1.0)
    assert d.low < d.delta < d.high
    assert d.high - d.low > every.per_task["a"]["score"].high - every.per_task["a"]["score"].low


def test_lower_is_better_is_flipped_so_positive_means_better(base):
    c = paired_difference(
        runs({"a": base - 1.0}, higher_is_better=False),
        runs({"a": base}, higher_is_better=False),
        resamples=50,
    )
    assert c.per_task["a"]["score"].delta == 1.0


def test_overall_is_the_mean_over_tasks_not_over_pooled_items():
    small, large = np.zeros((2, 10)), np.zeros((2, 90))
    c = paired_difference(
        runs({"small": small + 1.0, "large": large + 3.0}),
        runs({"small": small, "large": large}),
        resamples=50,
    )
    assert c.overall["score"].delta == 2.0
    assert (c.overall["score"].low, c.overall["score"].high) == (2.0, 2.0)
    assert c.overall["score"].n_items == 100


def test_probability_of_improvement_matches_the_enumerated_bootstrap():
    diff = np.array([[3.0, -1.0, 0.0], [-2.0, 1.0, -1.0]])  # 2 seeds x 3 items
    # every ordered draw of 2 seeds and 3 items is equally likely: 2^2 x 3^3 = 108 outcomes
    outcomes = [
        diff[np.ix_(s, i)].mean()
        for s in itertools.product(range(2), repeat=2)
        for i in itertools.product(range(3), repeat=3)
    ]
    exact = np.mean(np.array(outcomes) > 1e-12)
    zero = np.zeros_like(diff)
    c = paired_difference(runs({"a": diff}), runs({"a": zero}), resamples=20000, seed=3)
    d = c.per_task["a"]["score"]
    assert d.p_improvement == pytest.approx(exact, abs=4 * np.sqrt(exact * (1 - exact) / 20000))
    assert min(outcomes) <= d.low <= d.delta <= d.high <= max(outcomes)
    assert d.delta == pytest.approx(0.0)


def test_a_real_gain_excludes_zero_and_an_aa_comparison_covers_it():
    rng = np.random.default_rng(5)
    base = np.tile(rng.normal(50, 10, 400), (3, 1))
    noise = np.tile(rng.normal(0, 10, 400), (3, 1))
    gain = paired_difference(runs({"a": base + 5 + noise}), runs({"a": base}), resamples=1000)
    same = paired_difference(runs({"a": base + noise}), runs({"a": base}), resamples=1000)
    assert gain.per_task["a"]["score"].low > 0
    assert same.per_task["a"]["score"].low < 0 < same.per_task["a"]["score"].high


def test_the_interval_covers_the_true_difference_at_about_the_nominal_rate():
    rng = np.random.default_rng(11)
    truth, covered = 2.0, 0
    for draw in range(200):
        # pure item noise: each item's difference is the same for every seed
        base = np.tile(rng.normal(50, 10, 200), (3, 1))
        noise = np.tile(rng.normal(0, 15, 200), (3, 1))
        c = paired_difference(
            runs({"a": base + truth + noise}), runs({"a": base}), resamples=1000, seed=draw
        )
        covered += c.per_task["a"]["score"].low <= truth <= c.per_task["a"]["score"].high
    assert 0.90 <= covered / 200 <= 0.99


def test_the_same_seed_gives_the_same_answer(base):
    noisy = base + np.random.default_rng(2).normal(0, 5, base.shape)
    first, again, other = (
        paired_difference(runs({"a": noisy}), runs({"a": base}), resamples=300, seed=s)
        for s in (7, 7, 8)
    )
    assert first == again
    assert first.per_task["a"]["score"].low != other.per_task["a"]["score"].low


def test_seeds_that_do_not_pair_up_are_one_line_errors(base):
    method, baseline = runs({"a": base}), runs({"a": base})
    del baseline[2]
    with pytest.raises(EvalError, match="^seeds do not pair up: seed 2 has no baseline run$"):
        paired_difference(method, baseline)


def test_items_that_do_not_pair_up_are_one_line_errors(base):
    method, baseline = runs({"a": base}), runs({"a": base})
    del method[1]["a"].scores[4]
    with pytest.raises(EvalError, match="method seed 1 .* items differ") as raised:
        paired_difference(method, baseline)
    assert "1 missing: doc_id 4" in str(raised.value) and "\n" not in str(raised.value)


def test_a_task_missing_from_a_run_is_skipped_with_the_reason(base):
    method, baseline = runs({"a": base, "b": base}), runs({"a": base, "b": base})
    del method[0]["b"]
    c = paired_difference(method, baseline, resamples=10)
    assert list(c.per_task) == ["a"] and c.skipped == {"b": "not in every run"}


def _write_run(root, tasks: dict[str, tuple[dict, list[dict] | None]]) -> None:
    entries = {}
    for name, (entry, samples) in tasks.items():
        entry = {"status": "scored", "scale": 100.0, "samples": f"lmms_eval/{name}.jsonl", **entry}
        entries[name] = entry
        if samples is not None:
            (root / "lmms_eval").mkdir(parents=True, exist_ok=True)
            lines = [json.dumps(sample) for sample in samples]
            (root / entry["samples"]).write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "scores.json").write_text(json.dumps({"tasks": entries}), encoding="utf-8")


def test_the_loader_reads_item_scores_on_the_reported_scale(tmp_path):
    def toy(i, score, part):
        return {"doc_id": i, "score": {"id": f"q{i}", "score": score, "longtail": part}}

    _write_run(
        tmp_path,
        {
            "toy": (
                {"metric": "score", "score": 50.0, "head": 100.0, "tail": 25.0},
                [toy(0, 1.0, "head"), toy(1, 0.5, "tail"), toy(2, 0.0, "tail")],
            ),
            "vqa": (
                {"metric": "exact_match", "score": 50.0},
                [{"doc_id": 0, "exact_match": 1.0}, {"doc_id": 1, "exact_match": 0.0}],
            ),
            "f1": (
                {"metric": "f1", "score": 80.0},
                [{"doc_id": 0, "f1": {"score": 1.0}}, {"doc_id": 1, "f1": {"score": 0.0}}],
            ),
            "judged": ({"metric": "gpt", "status": "unscored", "score": None}, None),
        },
    )
    run = load_items(tmp_path)
    assert run.tasks["toy"].scores == {0: 100.0, 1: 50.0, 2: 0.0}
    assert run.tasks["toy"].longtail == {0: "head", 1: "tail", 2: "tail"}
    assert run.tasks["vqa"].scores == {0: 100.0, 1: 0.0} and run.tasks["vqa"].longtail == {}
    assert run.skipped["judged"] == "unscored"
    assert "not the reported" in run.skipped["f1"]  # an F1 is no mean over items


def test_the_loader_names_a_missing_or_malformed_samples_file(tmp_path):
    _write_run(tmp_path, {"vqa": ({"metric": "exact_match", "score": 50.0}, None)})
    with pytest.raises(InputNotFoundError, match="samples not found: .*vqa.jsonl$"):
        load_items(tmp_path)
    (tmp_path / "lmms_eval").mkdir()
    (tmp_path / "lmms_eval" / "vqa.jsonl").write_text('{"doc_id": 0}\n{oops\n', encoding="utf-8")
    with pytest.raises(EvalError, match=r"vqa.jsonl:1: a sample needs 'doc_id' and 'exact_match'"):
        load_items(tmp_path)
    (tmp_path / "lmms_eval" / "vqa.jsonl").write_text('{"doc_id": 0, "exact_match": 1}\n{oops\n')
    with pytest.raises(EvalError, match=r"vqa.jsonl:2: not a JSON line") as raised:
        load_items(tmp_path)
    assert "\n" not in str(raised.value)


def test_relative_performance_of_a_proportional_arm_is_exact_on_every_resample(base):
    # the same draws for both arms: a method at half the baseline on every item is 50% always
    d = paired_relative(runs({"a": base * 0.5, "b": base}), runs({"a": base, "b": base}), 300)
    assert d.delta == pytest.approx(75.0)  # the mean over tasks of 50% and 100%
    assert (d.low, d.high) == (pytest.approx(75.0), pytest.approx(75.0))
    assert (d.p_improvement, d.n_seeds, d.n_items) == (0.0, 3, 80)


def test_relative_performance_flips_where_lower_is_better_and_skips_a_zero_baseline(base):
    lower = paired_relative(
        runs({"a": base + 100.0}, higher_is_better=False),
        runs({"a": (base + 100.0) / 4}, higher_is_better=False),
        resamples=50,
    )
    assert lower.delta == pytest.approx(25.0) and lower.high == pytest.approx(25.0)
    zero = np.zeros_like(base)
    assert paired_relative(runs({"a": base}), runs({"a": zero}), resamples=10) is None


def test_relative_performance_interval_brackets_the_ratio_of_means(base):
    other = (np.random.default_rng(4).random(base.shape) < 0.5) * 100.0
    d = paired_relative(runs({"a": other}), runs({"a": base}), resamples=500, seed=1)
    assert d.delta == pytest.approx(100.0 * other.mean() / base.mean())
    assert d.low < d.delta < d.high


def test_relative_performance_leaves_out_resamples_whose_baseline_mean_is_zero():
    # one seed, three items: the baseline scores only item 0, so every resample that misses
    # item 0 (8 of 27 equally likely draws) has no ratio; the others are finite and >= 100
    method = {0: {"a": TaskItems({0: 100.0, 1: 100.0, 2: 0.0}, {})}}
    baseline = {0: {"a": TaskItems({0: 100.0, 1: 0.0, 2: 0.0}, {})}}
    d = paired_relative(method, baseline, resamples=400, seed=3)
    assert d.delta == pytest.approx(200.0)
    assert np.isfinite([d.low, d.high]).all() and 100.0 <= d.low <= d.high <= 300.0
    json.dumps(dataclasses.asdict(d), allow_nan=False)  # the report writes it so
