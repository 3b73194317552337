"""Text-only questions (no image), like the ShareGPT part of LLaVA-665K: shape facts,
colour mixing and small sums, asked in the same answer formats as the visual skills."""

from __future__ import annotations

import numpy as np

from toyworld.config import TEXT_SKILL
from toyworld.skills import QA, Vocabulary

SIDES = {"triangle": 3, "square": 4, "diamond": 4, "pentagon": 5, "hexagon": 6, "circle": 0}
MIXES = {
    ("blue", "yellow"): "green",
    ("red", "yellow"): "orange",
    ("blue", "red"): "purple",
    ("red", "white"): "pink",
    ("blue", "green"): "cyan",
}


def _sides(shape: str, interrogation: str) -> QA:
    count = SIDES[shape]
    return QA(
        skill=TEXT_SKILL,
        question=f"How many sides does a {shape} have?",
        reference=str(count),
        sentence=f"A {shape} has {count} sides.",
        answer_type="number",
        interrogation=interrogation,
    )


def _sum(a: int, b: int) -> QA:
    return QA(
        skill=TEXT_SKILL,
        question=f"What is {a} plus {b}?",
        reference=str(a + b),
        sentence=f"{a} plus {b} is {a + b}.",
        answer_type="number",
        interrogation="what is",
    )


def _mix(first: str, second: str, result: str) -> QA:
    return QA(
        skill=TEXT_SKILL,
        question=f"What color do you get by mixing {first} and {second}?",
        reference=result,
        sentence=f"Mixing {first} and {second} gives {result}.",
        answer_type="word",
        interrogation="what color",
    )


def ask_text(rng: np.random.Generator, vocabulary: Vocabulary) -> QA:
    shapes = [shape for shape in vocabulary.shapes if shape in SIDES]
    mixes = [
        (pair, result)
        for pair, result in MIXES.items()
        if set(pair) <= set(vocabulary.colours) and result in vocabulary.colours
    ]
    kind = int(rng.integers(3))
    if kind == 0 and shapes:
        return _sides(shapes[int(rng.integers(len(shapes)))], "how many")
    if kind == 1 and mixes:
        (first, second), result = mixes[int(rng.integers(len(mixes)))]
        if rng.random() < 0.5:
            first, second = second, first
        return _mix(first, second, result)
    return _sum(int(rng.integers(0, 6)), int(rng.integers(0, 6)))
