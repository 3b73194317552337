"""Question families on hand-made scenes, entities, and rendering."""

from __future__ import annotations

import numpy as np
import pytest

from toyworld.concepts import ConceptModel, zipf_weights
from toyworld.entities import co_occurrences, noun_lemmas
from toyworld.render import render_png, render_scene
from toyworld.scene import Scene, SceneObject, lay_out_in_quadrants, relation
from toyworld.skills import PHRASINGS, Vocabulary, ask, caption_of

VOCABULARY = Vocabulary(("circle", "square", "star", "ring"), ("red", "blue", "green", "white"))
RED_CIRCLE = SceneObject("circle", "red", "large", (2, 2, 16, 16))
BLUE_STAR = SceneObject("star", "blue", "small", (20, 4, 30, 14))
GREEN_CIRCLE = SceneObject("circle", "green", "small", (4, 20, 14, 30))


def scene(*objects: SceneObject) -> Scene:
    return Scene(tuple(objects), background_level=30, texture="plain", render_seed=7)


def qa(
    skill: str, phrasing: int, target: SceneObject, *objects: SceneObject, absent: str | None = None
):
    return ask(
        skill, phrasing, scene(*objects), target, np.random.default_rng(0), VOCABULARY, absent
    )


def test_colour_and_shape_questions() -> None:
    colour = qa("colour", 0, BLUE_STAR, RED_CIRCLE, BLUE_STAR)
    assert (colour.question, colour.reference, colour.interrogation) == (
        "What color is the star?",
        "blue",
        "what color",
    )
    assert (
        colour.prompt(short=False) == "What color is the star?"
        and colour.answer(short=False) == "The star is blue."
    )
    assert (
        qa("colour", 0, RED_CIRCLE, RED_CIRCLE, GREEN_CIRCLE) is None
    )  # "the circle" is ambiguous
    shape = qa("shape", 0, GREEN_CIRCLE, RED_CIRCLE, GREEN_CIRCLE)
    assert (shape.question, shape.reference) == ("What shape is the green object?", "circle")


def test_counting_existence_and_spatial() -> None:
    objects = (RED_CIRCLE, BLUE_STAR, GREEN_CIRCLE)
    assert qa("counting", 0, RED_CIRCLE, *objects).reference == "3"
    assert qa("counting", 1, RED_CIRCLE, *objects).reference == "2"  # circles
    assert qa("existence", 0, RED_CIRCLE, *objects).reference == "yes"
    no = qa("existence", 0, RED_CIRCLE, *objects, absent="white ring")
    assert (no.question, no.reference) == ("Is there a white ring in the image?", "no")
    assert qa("existence", 0, RED_CIRCLE, *objects, absent="blue star") is None
    diagonal = SceneObject("ring", "white", "small", (18, 18, 28, 28))
    assert (
        relation(RED_CIRCLE, BLUE_STAR) == "left" and relation(RED_CIRCLE, GREEN_CIRCLE) == "above"
    )
    assert relation(RED_CIRCLE, diagonal) is None  # too diagonal to name one side
    spatial = qa("spatial", 1, BLUE_STAR, RED_CIRCLE, BLUE_STAR)
    assert spatial.reference == "right" and spatial.answer_type == "word"
    assert qa("spatial", 2, BLUE_STAR, RED_CIRCLE, BLUE_STAR) is None  # not an above/below pair


def test_multiple_choice_has_lettered_options_and_the_right_letter() -> None:
    for phrasing in range(len(PHRASINGS["multiple_choice"])):
        item = qa("multiple_choice", phrasing, BLUE_STAR, RED_CIRCLE, BLUE_STAR)
        lines = item.question.split("\n")
        options = {line[0]: line[3:] for line in lines[1:-1]}
        assert lines[-1] == "Answer with the option's letter from the given choices directly."
        assert list(options) == list("ABCD")[: len(options)] and 3 <= len(options) <= 4
        assert options[item.reference] in ("blue", "star", "2", "blue star")


def test_caption_mentions_every_object_verbatim() -> None:
    twin = SceneObject("circle", "red", "large", (18, 18, 32, 32))
    text = caption_of(scene(RED_CIRCLE, BLUE_STAR, twin))
    assert text == "A large red circle, a small blue star and another large red circle."
    item = qa("caption", 0, RED_CIRCLE, RED_CIRCLE, BLUE_STAR, twin)
    assert item.keywords == ("red circle", "blue star") and item.answer_type == "caption"


def test_entities_helpers() -> None:
    assert noun_lemmas("<image>\nHow many circles are in the image?") == ["circle", "image"]
    assert co_occurrences(["red circle", "blue star", "red circle"]) == ["blue star,red circle"]


def test_zipf_and_concept_model_are_long_tailed() -> None:
    weights = zipf_weights(4, 1.0)
    assert weights[0] == pytest.approx(2 * weights[1]) and weights.sum() == pytest.approx(1)
    model = ConceptModel(
        ["circle", "square", "star", "ring"],
        ["red", "blue", "green", "white"],
        1.2,
        1.2,
        1.0,
        0.6,
        2,
        1.2,
        np.random.default_rng(0),
    )
    assert model.names[int(np.argmax(model.probabilities))] == "red circle"
    assert all(i not in model.companions[i] for i in range(len(model.concepts)))


def test_rendering_is_deterministic_and_draws_the_objects() -> None:
    objects = scene(RED_CIRCLE, BLUE_STAR)
    assert render_png(objects, 32, 6.0) == render_png(objects, 32, 6.0)
    pixels = np.asarray(render_scene(objects, 32, 0.0)).astype(int)
    assert tuple(pixels[9, 9]) == pytest.approx((220, 38, 38), abs=30)  # inside the red circle
    assert pixels[9, 9, 0] > pixels[0, 0, 0] + 100  # against the dark background


def test_quadrant_layout_always_fits_four_large_objects() -> None:
    specs = [("circle", "red", "large")] * 4
    objects = lay_out_in_quadrants(specs, 32, {"small": 10, "large": 14}, np.random.default_rng(1))
    boxes = [o.bbox for o in objects]
    assert len(boxes) == 4 and all(
        0 <= b[0] and b[2] <= 32 and 0 <= b[1] and b[3] <= 32 for b in boxes
    )
