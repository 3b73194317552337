"""Ground-truth ADR entities of a ToyWorld sample, in ADR's four perspectives
(curation/methods/adr/README.md).

ToyWorld's language is closed, so the nouns are known exactly: token entities are the
lemmas of the lexicon nouns, counted per mention over all human and gpt turns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import combinations

from toyworld.concepts import SHAPE_PLURALS

PERSPECTIVES = ("token", "object", "co_occurrence", "interrogation")

_OTHER_NOUNS = {
    "image": "images",
    "picture": "pictures",
    "object": "objects",
    "color": "colors",
    "shape": "shapes",
    "number": "numbers",
    "side": "sides",
    "option": "options",
    "letter": "letters",
    "choice": "choices",
    "question": "questions",
    "word": "words",
    "phrase": "phrases",
    "caption": "captions",
    "sentence": "sentences",
    "left": "lefts",
    "right": "rights",
    "hue": "hues",
    "drawing": "drawings",
    "figure": "figures",
    "item": "items",
    "form": "forms",
    "thing": "things",
    "scene": "scenes",
    "quantity": "quantities",
    "photo": "photos",
    "position": "positions",
    "respect": "respects",
    "direction": "directions",
    "description": "descriptions",
}
LEMMAS: dict[str, str] = {
    form: lemma
    for lemma, plural in {**SHAPE_PLURALS, **_OTHER_NOUNS}.items()
    for form in (lemma, plural)
}
_WORD = re.compile(r"[a-z]+")


def noun_lemmas(text: str) -> list[str]:
    """Lemmas of the nouns in `text`, one per mention, in order."""
    text = text.replace("<image>", " ").lower()
    return [LEMMAS[word] for word in _WORD.findall(text) if word in LEMMAS]


def pair_key(a: str, b: str) -> str:
    return ",".join(sorted((a, b)))


def co_occurrences(object_names: Iterable[str]) -> list[str]:
    """Every unordered pair of distinct objects, "a,b" sorted; pairs sorted."""
    distinct = sorted(set(object_names))
    return [pair_key(a, b) for a, b in combinations(distinct, 2)]


def sample_entities(
    texts: Iterable[str], object_names: Iterable[str], interrogations: Iterable[str]
) -> dict[str, list[str]]:
    objects = sorted(set(object_names))
    return {
        "token": [lemma for text in texts for lemma in noun_lemmas(text)],
        "object": objects,
        "co_occurrence": co_occurrences(objects),
        "interrogation": list(dict.fromkeys(interrogations)),
    }
