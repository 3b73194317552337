"""A task's entry in scores.json: n and the binomial standard error of its score."""

import math

import pytest

from evaluation.config import TaskSpec
from evaluation.materialize import RunTask
from evaluation.scores import binomial_se, task_entry


def _task(metric="exact_match", scale=100.0, judge="none", predict_only=False) -> RunTask:
    spec = TaskSpec(name="t", metric=metric, scale=scale, judge=judge)
    return RunTask(spec, "lmms_t", None, predict_only, "", "")  # type: ignore[arg-type]


def _entry(task: RunTask, reported: dict, samples: list[dict]) -> dict:
    results = {"results": {"lmms_t": reported}}
    return task_entry(task, results, samples, 1.0, "r.json", "s.jsonl")


def test_se_of_a_0_1_accuracy_with_known_p_and_n():
    samples = [{"exact_match": float(i < 30)} for i in range(40)]  # p = 0.75, n = 40
    entry = _entry(_task(), {"exact_match,none": 0.75}, samples)
    assert entry["n"] == 40 and entry["score"] == pytest.approx(75.0)
    assert entry["se"] == pytest.approx(100 * math.sqrt(0.75 * 0.25 / 40))  # 6.85 points


def test_se_of_toyworld_items_and_of_fractional_scores():
    # ToyWorld's items are {"score", "longtail"}; a caption scores fractions of its phrases
    values = [1.0, 0.5, 0.0, 0.5, 1.0, 0.0, 0.25, 0.75]
    samples = [{"score": {"score": v, "longtail": "head"}} for v in values]
    entry = _entry(_task("score", scale=100.0), {"score,none": 0.5}, samples)
    assert entry["se"] == pytest.approx(100 * math.sqrt(0.25 / 8))
    unscaled = _entry(_task("score", scale=1.0), {"score,none": 0.5}, samples)
    assert unscaled["se"] == pytest.approx(math.sqrt(0.25 / 8))


@pytest.mark.parametrize(
    ("reported", "samples", "why"),
    [
        ({"f1,none": 0.4}, [{"f1": 1.0}, {"f1": 0.0}], "the mean of the items is not the score"),
        ({"f1,none": 150.0}, [{"f1": 100.0}, {"f1": 200.0}], "items outside 0..1 (a sum, MME)"),
        ({"f1,none": 0.5}, [{"f1": {"pred": "A"}}, {"f1": {"pred": "B"}}], "per-item records"),
        # POPE's F1 items carry the item's accuracy as "score": its mean is not the F1, even
        # where the two happen to agree
        ({"f1,none": 0.5}, [{"f1": {"score": 1.0}}, {"f1": {"score": 0.0}}], "POPE records"),
        ({"f1,none": 0.5}, [{"f1": 1.0}, {"other": 0.0}], "an item without the metric"),
        ({"f1,none": math.nan}, [{"f1": 1.0}], "no score"),
    ],
)
def test_no_se_where_the_score_is_not_a_mean_of_0_1_items(reported, samples, why):
    entry = _entry(_task("f1", scale=1.0), reported, samples)
    assert entry["se"] is None, why
    assert entry["n"] == len(samples)


def test_no_se_for_judged_or_unscored_tasks():
    samples = [{"gpt_eval_score": 1.0}, {"gpt_eval_score": 0.0}]
    judged = _entry(_task("gpt_eval_score", judge="always"), {"gpt_eval_score,none": 0.5}, samples)
    assert judged["se"] is None and judged["score"] == pytest.approx(50.0)
    unscored = _entry(_task("gpt_eval_score", judge="always", predict_only=True), {}, samples)
    assert unscored["se"] is None and unscored["n"] == 2


def test_binomial_se_at_the_edges():
    assert binomial_se([1.0] * 5, 1.0) == 0.0 and binomial_se([0.0] * 5, 0.0) == 0.0
    assert binomial_se([], 0.5) is None and binomial_se([0.5], None) is None
