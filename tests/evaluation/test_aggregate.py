"""Relative performance (COINCIDE) and mean relative gain (ADR), checked by hand."""

import json

import pytest

from evaluation.aggregate import (
    compare_table,
    load_scores,
    mean_relative_gain,
    reference_summary,
    relative_performance,
    run_table,
)
from evaluation.errors import EvalError


def entry(score, higher=True, head=None, tail=None, status="scored"):
    return {
        "status": status,
        "metric": "m" if higher else "error",
        "higher_is_better": higher,
        "score": score,
        "head": head,
        "tail": tail,
        "note": "",
    }


RUN = {
    "suite": "s",
    "tasks": {
        "a": entry(60.0, head=80.0, tail=40.0),
        "b": entry(30.0, head=30.0, tail=30.0),
        "err": entry(20.0, higher=False),  # lower is better
        "judged": entry(None, status="unscored"),
        "new": entry(10.0),  # not in the reference run
        "zero": entry(5.0),  # reference scored 0
    },
}
REFERENCE = {
    "suite": "s",
    "tasks": {
        "a": entry(50.0, head=50.0, tail=50.0),
        "b": entry(40.0, head=60.0, tail=20.0),
        "err": entry(25.0, higher=False),
        "judged": entry(None, status="unscored"),
        "zero": entry(0.0),
    },
}


def test_relative_performance_by_hand():
    rp = relative_performance(RUN, REFERENCE)
    # a: 60/50*100 = 120; b: 30/40*100 = 75; err (lower is better): 25/20*100 = 125
    assert rp.per_task == pytest.approx({"a": 120.0, "b": 75.0, "err": 125.0})
    assert rp.value == pytest.approx((120.0 + 75.0 + 125.0) / 3)
    assert set(rp.skipped) == {"judged", "new", "zero"}


def test_mean_relative_gain_by_hand():
    mrg = mean_relative_gain(RUN, REFERENCE)
    # a: (60-50)/50 = 0.2; b: (30-40)/40 = -0.25; err: (25-20)/25 = 0.2
    assert mrg.per_task == pytest.approx({"a": 0.2, "b": -0.25, "err": 0.2})
    assert mrg.value == pytest.approx(0.15 / 3)


def test_head_and_tail_parts():
    # head: a 80/50 = 160, b 30/60 = 50 -> 105; tail: a 40/50 = 80, b 30/20 = 150 -> 115
    assert relative_performance(RUN, REFERENCE, "head").value == pytest.approx(105.0)
    assert relative_performance(RUN, REFERENCE, "tail").value == pytest.approx(115.0)
    # tail gain: a (40-50)/50 = -0.2, b (30-20)/20 = 0.5 -> 0.15
    assert mean_relative_gain(RUN, REFERENCE, "tail").value == pytest.approx(0.15)


def test_a_run_against_itself_is_100_and_zero_gain():
    assert relative_performance(REFERENCE, REFERENCE).value == pytest.approx(100.0)
    assert mean_relative_gain(REFERENCE, REFERENCE).value == pytest.approx(0.0)


def test_nothing_comparable_gives_none():
    only_judged = {"tasks": {"judged": entry(None, status="unscored")}}
    assert relative_performance(only_judged, REFERENCE).value is None
    with pytest.raises(ValueError, match="part must be one of"):
        relative_performance(RUN, REFERENCE, "middle")


def test_reference_summary_and_tables():
    summary = reference_summary(RUN, REFERENCE, "ref/scores.json")
    assert summary["score"]["relative_performance"] == pytest.approx(320.0 / 3)
    assert summary["score"]["mean_relative_gain"] == pytest.approx(0.05)
    assert summary["tail"]["relative_performance"] == pytest.approx(115.0)
    table = run_table(RUN, REFERENCE)
    assert "| a | m | 60.00 | 80.00 | 40.00 | 50.00 | 120.00 |" in table
    assert "| judged | m | unscored |" in table
    assert "error (lower is better)" in table
    assert "relative performance: 106.67  |  mean relative gain: +5.00%" in table
    compare = compare_table({"run": RUN, "ref": REFERENCE}, REFERENCE)
    assert compare.splitlines()[0] == "| run | a | b | err | judged | new | zero | RP | MRG |"
    assert "| run | 60.00 | 30.00 | 20.00 | - | 10.00 | 5.00 | 106.67 | +5.00% |" in compare
    assert "| ref | 50.00 | 40.00 | 25.00 | - | - | 0.00 | 100.00 | +0.00% |" in compare


def test_load_scores_from_file_or_run_dir(tmp_path):
    (tmp_path / "scores.json").write_text(json.dumps(RUN))
    assert load_scores(tmp_path)["tasks"]["a"]["score"] == 60.0
    with pytest.raises(FileNotFoundError, match="scores not found"):
        load_scores(tmp_path / "missing")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(EvalError, match="not a scores.json"):
        load_scores(tmp_path / "bad.json")


def test_run_table_shows_score_plus_minus_se_and_n():
    run = {
        "suite": "s",
        "tasks": {
            "acc": {**entry(75.0), "n": 40, "se": 6.846},
            "f1": {**entry(60.0), "n": 10, "se": None},
        },
    }
    table = run_table(run)
    assert table.splitlines()[0] == "| task | metric | score | head | tail | n |"
    assert "| acc | m | 75.00 ± 6.85 | - | - | 40 |" in table
    assert "| f1 | m | 60.00 | - | - | 10 |" in table
    assert "binomial standard error of one evaluation" in table
    assert "binomial" not in run_table({"suite": "s", "tasks": {"f1": run["tasks"]["f1"]}})
