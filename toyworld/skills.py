"""Question families (skills): several phrasings each, answers in benchmark formats.

Every phrasing carries its ADR interrogation entity (the question type, as an LLM or the
VQAv2 rule would name it). A question is asked about a target object of a scene; it
returns None when the scene cannot support it unambiguously (e.g. "the circle" when there
are two circles), and the caller draws again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from toyworld.concepts import SHAPE_PLURALS
from toyworld.scene import Scene, SceneObject, relation

SHORT_ANSWER_INSTRUCTION = "Answer the question using a single word or phrase."
CHOICE_INSTRUCTION = "Answer with the option's letter from the given choices directly."
LETTERS = "ABCD"


@dataclass(frozen=True)
class Phrasing:
    text: str
    interrogation: str


@dataclass(frozen=True)
class QA:
    skill: str
    question: str  # the question alone, without instruction lines
    reference: str  # word, number, yes/no, letter or caption: the benchmark answer
    sentence: str  # the answer as a sentence, for turns without the short-answer line
    answer_type: str  # word | number | yesno | letter | caption
    interrogation: str
    keywords: tuple[str, ...] = ()

    def prompt(self, short: bool) -> str:
        """The full user text of the turn."""
        if self.answer_type in ("letter", "caption") or not short:
            return self.question
        return f"{self.question}\n{SHORT_ANSWER_INSTRUCTION}"

    def answer(self, short: bool) -> str:
        return (
            self.reference if short or self.answer_type in ("letter", "caption") else self.sentence
        )


# Per skill, in Zipf rank order: the first phrasing is the common one, the last ones
# (with rarer nouns and question types) make the token and interrogation long tails.
PHRASINGS: dict[str, tuple[Phrasing, ...]] = {
    "colour": (
        Phrasing("What color is the {shape}?", "what color"),
        Phrasing("What is the color of the {shape}?", "what is"),
        Phrasing("Which color does the {shape} have?", "which color"),
        Phrasing("Name the color of the {shape}.", "name"),
        Phrasing("Tell me the hue of the {shape} in this drawing.", "tell"),
        Phrasing("In which color is the {shape} painted?", "in which color"),
    ),
    "shape": (
        Phrasing("What shape is the {colour} object?", "what shape"),
        Phrasing("What is the {colour} object?", "what is"),
        Phrasing("Which shape is {colour}?", "which shape"),
        Phrasing("Identify the shape of the {colour} object.", "identify"),
        Phrasing("What kind of figure is the {colour} item?", "what kind"),
        Phrasing("Name the form of the {colour} thing in the picture.", "name"),
    ),
    "counting": (
        Phrasing("How many objects are there in the image?", "how many"),
        Phrasing("How many {plural} are there?", "how many"),
        Phrasing("Count the {colour} objects in the picture.", "count"),
        Phrasing("What is the number of objects in the image?", "what is the number"),
        Phrasing("Tell me the number of shapes in this scene.", "tell"),
        Phrasing("What quantity of {plural} does the figure show?", "what quantity"),
    ),
    "existence": (
        Phrasing("Is there a {name} in the image?", "is there"),
        Phrasing("Does the image contain a {name}?", "does"),
        Phrasing("Can you see a {name} in the picture?", "can you see"),
        Phrasing("Is any {name} visible in the image?", "is visible"),
        Phrasing("Would you find a {name} in this scene?", "would"),
        Phrasing("Is a {name} shown anywhere in the photo?", "is shown"),
    ),
    "spatial": (
        Phrasing("Where is the {a} relative to the {b}?", "where"),
        Phrasing("Is the {a} to the left or to the right of the {b}?", "left or right"),
        Phrasing("Is the {a} above or below the {b}?", "above or below"),
        Phrasing("On which side of the {b} is the {a}?", "which side"),
        Phrasing("Describe the position of the {a} with respect to the {b}.", "describe position"),
        Phrasing("In what direction from the {b} does the {a} lie?", "what direction"),
    ),
    "multiple_choice": (
        Phrasing("What color is the {shape}?", "what color"),
        Phrasing("What shape is the {colour} object?", "what shape"),
        Phrasing("How many objects are in the image?", "how many"),
        Phrasing("Which of these objects is in the image?", "which object"),
        Phrasing("Which hue does the {shape} have?", "which hue"),
        Phrasing("Which figure appears in the picture?", "which figure"),
    ),
    "caption": (
        Phrasing("Describe the image briefly.", "describe"),
        Phrasing("What is in the picture?", "what is"),
        Phrasing("Give a short caption for this image.", "give"),
        Phrasing("Summarize the image in one sentence.", "summarize"),
        Phrasing("Write a brief description of this scene.", "write"),
        Phrasing("What does this drawing show?", "what does"),
    ),
}


@dataclass(frozen=True)
class Vocabulary:
    """The world's concept names, for distractor options and absent objects."""

    shapes: tuple[str, ...]
    colours: tuple[str, ...]


def _unique_by(scene: Scene, key: Callable[[SceneObject], str], target: SceneObject) -> bool:
    return sum(1 for obj in scene.objects if key(obj) == key(target)) == 1


def _count_phrase(count: int, singular: str, plural: str) -> str:
    return f"There is {count} {singular}." if count == 1 else f"There are {count} {plural}."


def ask_colour(scene: Scene, target: SceneObject, phrasing: Phrasing, **_: object) -> QA | None:
    if not _unique_by(scene, lambda o: o.shape, target):
        return None
    return QA(
        skill="colour",
        question=phrasing.text.format(shape=target.shape),
        reference=target.colour,
        sentence=f"The {target.shape} is {target.colour}.",
        answer_type="word",
        interrogation=phrasing.interrogation,
    )


def ask_shape(scene: Scene, target: SceneObject, phrasing: Phrasing, **_: object) -> QA | None:
    if not _unique_by(scene, lambda o: o.colour, target):
        return None
    return QA(
        skill="shape",
        question=phrasing.text.format(colour=target.colour),
        reference=target.shape,
        sentence=f"The {target.colour} object is a {target.shape}.",
        answer_type="word",
        interrogation=phrasing.interrogation,
    )


def ask_counting(scene: Scene, target: SceneObject, phrasing: Phrasing, **_: object) -> QA | None:
    if "{plural}" in phrasing.text:
        count = sum(1 for obj in scene.objects if obj.shape == target.shape)
        sentence = _count_phrase(count, target.shape, SHAPE_PLURALS[target.shape])
    elif "{colour}" in phrasing.text:
        count = sum(1 for obj in scene.objects if obj.colour == target.colour)
        sentence = _count_phrase(count, f"{target.colour} object", f"{target.colour} objects")
    else:
        count = len(scene.objects)
        sentence = _count_phrase(count, "object", "objects")
    return QA(
        skill="counting",
        question=phrasing.text.format(plural=SHAPE_PLURALS[target.shape], colour=target.colour),
        reference=str(count),
        sentence=sentence,
        answer_type="number",
        interrogation=phrasing.interrogation,
    )


def ask_existence(
    scene: Scene, target: SceneObject, phrasing: Phrasing, *, absent: str | None = None, **_: object
) -> QA | None:
    """Asks about `target`, or about the `absent` object name when one is given."""
    name = absent or target.name
    present = name in scene.names
    if absent is not None and present:
        return None
    return QA(
        skill="existence",
        question=phrasing.text.format(name=name),
        reference="yes" if present else "no",
        sentence=f"Yes, there is a {name}." if present else f"No, there is no {name}.",
        answer_type="yesno",
        interrogation=phrasing.interrogation,
    )


_RELATION_SENTENCE = {
    "left": "to the left of",
    "right": "to the right of",
    "above": "above",
    "below": "below",
}


def ask_spatial(
    scene: Scene, target: SceneObject, phrasing: Phrasing, *, rng: np.random.Generator, **_: object
) -> QA | None:
    names = [obj.name for obj in scene.objects]
    if names.count(target.name) != 1:
        return None
    others = [obj for obj in scene.objects if obj is not target and names.count(obj.name) == 1]
    for index in rng.permutation(len(others)):
        anchor = others[int(index)]
        where = relation(target, anchor)
        if where is None:
            continue
        if phrasing.interrogation == "left or right" and where not in ("left", "right"):
            continue
        if phrasing.interrogation == "above or below" and where not in ("above", "below"):
            continue
        return QA(
            skill="spatial",
            question=phrasing.text.format(a=target.name, b=anchor.name),
            reference=where,
            sentence=f"The {target.name} is {_RELATION_SENTENCE[where]} the {anchor.name}.",
            answer_type="word",
            interrogation=phrasing.interrogation,
        )
    return None


def _lettered(correct: str, distractors: list[str], rng: np.random.Generator) -> tuple[str, str]:
    """Options text and the letter of the correct one."""
    options = [correct, *distractors]
    order = rng.permutation(len(options))
    shuffled = [options[int(i)] for i in order]
    letter = LETTERS[shuffled.index(correct)]
    return "\n".join(f"{LETTERS[i]}. {option}" for i, option in enumerate(shuffled)), letter


_CHOICE_KINDS = {
    "what color": "colour",
    "which hue": "colour",
    "what shape": "shape",
    "how many": "count",
    "which object": "object",
    "which figure": "object",
}


def ask_multiple_choice(
    scene: Scene,
    target: SceneObject,
    phrasing: Phrasing,
    *,
    rng: np.random.Generator,
    vocabulary: Vocabulary,
    **_: object,
) -> QA | None:
    option_count = int(rng.integers(3, 5))
    kind = _CHOICE_KINDS[phrasing.interrogation]
    if kind == "colour":
        if not _unique_by(scene, lambda o: o.shape, target):
            return None
        correct, pool = target.colour, [c for c in vocabulary.colours if c != target.colour]
    elif kind == "shape":
        if not _unique_by(scene, lambda o: o.colour, target):
            return None
        correct, pool = target.shape, [s for s in vocabulary.shapes if s != target.shape]
    elif kind == "count":
        correct = str(len(scene.objects))
        pool = [str(n) for n in range(1, 6) if n != len(scene.objects)]
    else:
        correct = target.name
        present = set(scene.names)
        pool = [
            f"{colour} {shape}"
            for shape in vocabulary.shapes
            for colour in vocabulary.colours
            if f"{colour} {shape}" not in present
        ]
    picks = rng.choice(len(pool), size=option_count - 1, replace=False)
    options, letter = _lettered(correct, [pool[int(i)] for i in picks], rng)
    question = phrasing.text.format(shape=target.shape, colour=target.colour)
    return QA(
        skill="multiple_choice",
        question=f"{question}\n{options}\n{CHOICE_INSTRUCTION}",
        reference=letter,
        sentence=letter,
        answer_type="letter",
        interrogation=phrasing.interrogation,
    )


def caption_of(scene: Scene) -> str:
    """'A large red circle, a small blue star and another large red circle.' in the scene's
    object order; no plurals, so every "colour shape" keyword appears verbatim."""
    parts, seen = [], set()
    for obj in scene.objects:
        key = (obj.size, obj.colour, obj.shape)
        parts.append(f"{'another' if key in seen else 'a'} {obj.size} {obj.colour} {obj.shape}")
        seen.add(key)
    text = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return text[0].upper() + text[1:] + "."


def ask_caption(scene: Scene, target: SceneObject, phrasing: Phrasing, **_: object) -> QA | None:
    caption = caption_of(scene)
    return QA(
        skill="caption",
        question=phrasing.text,
        reference=caption,
        sentence=caption,
        answer_type="caption",
        interrogation=phrasing.interrogation,
        keywords=tuple(scene.names),
    )


ASKERS: dict[str, Callable[..., QA | None]] = {
    "colour": ask_colour,
    "shape": ask_shape,
    "counting": ask_counting,
    "existence": ask_existence,
    "spatial": ask_spatial,
    "multiple_choice": ask_multiple_choice,
    "caption": ask_caption,
}


def ask(
    skill: str,
    phrasing_index: int,
    scene: Scene,
    target: SceneObject,
    rng: np.random.Generator,
    vocabulary: Vocabulary,
    absent: str | None = None,
) -> QA | None:
    return ASKERS[skill](
        scene,
        target,
        PHRASINGS[skill][phrasing_index],
        rng=rng,
        vocabulary=vocabulary,
        absent=absent,
    )
