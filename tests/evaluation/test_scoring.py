"""ToyWorld answer scoring and the overall/head/tail aggregation lmms-eval calls."""

import math

import pytest

from evaluation.tasks.toyworld import scoring


@pytest.mark.parametrize(
    ("prediction", "answer", "answer_type", "expected"),
    [
        ("Red.", "red", "word", 1.0),
        ("the red", "red", "word", 1.0),
        ("red circle", "red", "word", 0.0),
        ("Three", "3", "number", 1.0),
        ("3.", "three", "number", 1.0),
        ("4", "3", "number", 0.0),
        ("Yes, there is.", "yes", "yesno", 1.0),
        ("No", "yes", "yesno", 0.0),
        ("", "no", "yesno", 0.0),
        ("B", "B", "letter", 1.0),
        ("(b) blue square", "B", "letter", 1.0),
        ("B. blue", "B", "letter", 1.0),
        ("Blue", "B", "letter", 0.0),
    ],
)
def test_score_answer(prediction, answer, answer_type, expected):
    assert scoring.score_answer(prediction, answer, answer_type) == expected


def test_caption_scores_the_fraction_of_phrases_mentioned():
    keywords = ["red circle", "blue square"]
    assert scoring.score_answer("A red circle and a blue square.", "", "caption", keywords) == 1.0
    assert scoring.score_answer("A red circle next to a square.", "", "caption", keywords) == 0.5
    assert scoring.score_answer("A bored circle.", "", "caption", keywords) == 0.0


def test_process_results_and_head_tail_aggregation():
    docs = [
        {"id": "1", "answer": "red", "answer_type": "word", "keywords": [], "longtail": "head"},
        {"id": "2", "answer": "red", "answer_type": "word", "keywords": [], "longtail": "head"},
        {"id": "3", "answer": "blue", "answer_type": "word", "keywords": [], "longtail": "tail"},
    ]
    items = [
        scoring.process_results(doc, [pred])["score"]
        for doc, pred in zip(docs, ["red", "green", "blue"], strict=True)
    ]
    assert scoring.aggregate_all(items) == pytest.approx(2 / 3)
    assert scoring.aggregate_head(items) == pytest.approx(0.5)
    assert scoring.aggregate_tail(items) == pytest.approx(1.0)
    assert math.isnan(scoring.aggregate_tail(items[:2]))  # no tail items: undefined, not 0
