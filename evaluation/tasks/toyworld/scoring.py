"""ToyWorld benchmark items -> prompts, per-item scores and overall/head/tail aggregates.

Loaded by lmms-eval from the task YAMLs next to this file (`!function scoring.<name>`).
An item's score is in [0, 1]: exact match after normalisation for words and numbers, the
first yes/no for existence, the option letter for multiple choice, and for captions the
fraction of the required "colour shape" phrases that the caption mentions.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from PIL import Image

NUMBER_WORDS = {
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
}
ARTICLES = {"a", "an", "the"}
_LETTER = re.compile(r"^\s*\(?([A-Za-z])(?:[).:,]|\s|$)")


def doc_to_visual(doc: Mapping[str, Any]) -> list[Image.Image]:
    return [doc["image"].convert("RGB")]


def doc_to_text(
    doc: Mapping[str, Any], lmms_eval_specific_kwargs: Mapping[str, str] | None = None
) -> str:
    kwargs = lmms_eval_specific_kwargs or {}
    return f"{kwargs.get('pre_prompt', '')}{doc['question']}{kwargs.get('post_prompt', '')}"


def process_results(doc: Mapping[str, Any], results: Sequence[str]) -> dict[str, dict[str, Any]]:
    keywords = doc.get("keywords") or ()
    item = {
        "id": doc["id"],
        "score": score_answer(results[0], doc["answer"], doc["answer_type"], keywords),
        "longtail": doc["longtail"],
    }
    return {"score": item, "score_head": item, "score_tail": item}


def aggregate_all(items: Sequence[Mapping[str, Any]]) -> float:
    return _mean([item["score"] for item in items])


def aggregate_head(items: Sequence[Mapping[str, Any]]) -> float:
    return _mean([item["score"] for item in items if item["longtail"] == "head"])


def aggregate_tail(items: Sequence[Mapping[str, Any]]) -> float:
    return _mean([item["score"] for item in items if item["longtail"] == "tail"])


def score_answer(
    prediction: str, answer: str, answer_type: str, keywords: Sequence[str] = ()
) -> float:
    if answer_type == "caption":
        text = f" {normalize(prediction)} "
        phrases = [normalize(k) for k in keywords if normalize(k)]
        return _mean([float(f" {p} " in text) for p in phrases]) if phrases else 0.0
    if answer_type == "letter":
        match = _LETTER.match(prediction)
        return float(bool(match) and match.group(1).upper() == answer.strip().upper())
    if answer_type == "yesno":
        words = normalize(prediction).split()
        return float(bool(words) and words[0] == normalize(answer))
    if answer_type == "number":
        return float(_number(prediction) == _number(answer))
    return float(normalize(prediction) == normalize(answer))


def normalize(text: str) -> str:
    words = re.sub(r"[^0-9a-z]+", " ", text.lower()).split()
    return " ".join(w for w in words if w not in ARTICLES)


def _number(text: str) -> str:
    return " ".join(NUMBER_WORDS.get(word, word) for word in normalize(text).split())


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan
