"""Offline text backends for ADR entities: nouns by lexicon + lemmatiser, question types by
leading words (VQAv2's question-type list).

Both read only the text of a record's conversation. They approximate the paper's Stanza
nouns and Llama-3 "what words" with rules that need no model and no download.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from curation.data.messages import IMAGE_TOKEN
from curation.methods.adr.entities.lexicon import (
    ADJECTIVES,
    CLOSED_CLASS,
    ING_ED_NOUNS,
    IRREGULAR_PLURALS,
    NOUN_CONTEXT,
    VERBS,
)

_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+")
_BOUNDARY = re.compile(r"[.?!;:\n]")


def turn_texts(record: Mapping[str, Any], roles: Sequence[str] = ("human", "gpt")) -> list[str]:
    return [
        turn["value"].replace(IMAGE_TOKEN, " ")
        for turn in record["conversations"]
        if turn["from"] in roles
    ]


# --- nouns -----------------------------------------------------------------------------------


def singular(noun: str) -> str:
    """Lemma of a (possibly plural) English noun, by an irregular table and suffix rules."""
    if noun in IRREGULAR_PLURALS:
        return IRREGULAR_PLURALS[noun]
    if len(noun) <= 3 or not noun.endswith("s") or noun.endswith(("ss", "us", "is", "'s")):
        return noun.removesuffix("'s")
    if noun.endswith("ies") and len(noun) > 4:
        return noun[:-3] + "y"
    if noun.endswith(("ches", "shes", "xes", "sses", "zzes", "oes")):
        return noun[:-2]
    return noun[:-1]


def _verb_base_candidates(word: str) -> Iterable[str]:
    yield word
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            stem = word[: -len(suffix)]
            yield stem
            yield stem + "e"
            if len(stem) > 2 and stem[-1] == stem[-2]:
                yield stem[:-1]  # running -> run
            if suffix == "ed" and stem.endswith("i"):
                yield stem[:-1] + "y"  # carried -> carry
    if word.endswith("ies"):
        yield word[:-3] + "y"
    if word.endswith("es"):
        yield word[:-2]
    if word.endswith("s"):
        yield word[:-1]


def is_verb_form(word: str) -> bool:
    return any(base in VERBS for base in _verb_base_candidates(word))


class LexiconNouns:
    """Nouns of a text by word lists and context; lemmas by `singular`.

    A word is a noun when it is not closed-class and not a listed adjective, and either it
    opens a noun phrase (after a determiner, number, possessive or adjective), or it is no
    listed verb form, nor an -ing/-ed/-ly word. `extra_nouns` (a lexicon file) always count.
    """

    def __init__(self, extra_nouns: Iterable[str] = ()) -> None:
        self.extra_nouns = frozenset(word.lower() for word in extra_nouns)

    @classmethod
    def from_file(cls, path: str | Path | None) -> LexiconNouns:
        if not path:
            return cls()
        text = Path(path).read_text(encoding="utf-8")
        return cls(line.strip() for line in text.splitlines() if line.strip())

    def nouns(self, text: str) -> list[str]:
        matches = list(_WORD.finditer(text))
        words = [m.group().lower() for m in matches]
        gaps = [text[matches[i].end() : matches[i + 1].start()] for i in range(len(words) - 1)]
        found = []
        previous, previous_noun = "", False
        for i, word in enumerate(words):
            if i and _BOUNDARY.search(gaps[i - 1]):
                previous, previous_noun = "", False  # a new sentence or line
            # The next word only counts when nothing but spaces separates it ("the square?"
            # ends its phrase; "the square box" does not).
            following = words[i + 1] if i + 1 < len(words) and not gaps[i].strip() else ""
            context = previous in NOUN_CONTEXT or (previous in ADJECTIVES and not previous_noun)
            alone = len(words) == 1
            noun = self._is_noun(word, previous in NOUN_CONTEXT, context, following, alone)
            if noun:
                found.append(singular(word))
            previous, previous_noun = word, noun
        return found

    def _is_noun(
        self, word: str, after_determiner: bool, opens_phrase: bool, following: str, alone: bool
    ) -> bool:
        if word in self.extra_nouns:
            return True
        if word in CLOSED_CLASS or len(word) < 2:
            return False
        if word in ADJECTIVES:
            # An adjective that ends its phrase after a determiner or adjective is a noun:
            # "the square", "to the left of"; "the square box", "the red one" are adjectives.
            ends_phrase = (
                not following
                or following not in ("one", "ones")
                and (
                    following in CLOSED_CLASS
                    or is_verb_form(following)
                    and following not in ADJECTIVES
                )
            )
            return opens_phrase and ends_phrase
        if word.endswith("ly") or "'" in word and not word.endswith("'s"):
            return False
        if word in ING_ED_NOUNS or alone:
            return True
        if word.endswith(("ing", "ed")):
            return opens_phrase and not is_verb_form(word)
        if is_verb_form(word):
            return opens_phrase
        return True

    def __call__(self, record: Mapping[str, Any]) -> list[str]:
        return [noun for text in turn_texts(record) for noun in self.nouns(text)]


# --- question types --------------------------------------------------------------------------

# VQAv2's 65 question types (the leading words of its questions), longest match wins.
VQA_QUESTION_TYPES = (
    "how many",
    "is the",
    "what",
    "what color is the",
    "what is the",
    "is this",
    "is this a",
    "what is",
    "are the",
    "what kind of",
    "is there a",
    "what type of",
    "is it",
    "what are the",
    "where is the",
    "is there",
    "does the",
    "what color are the",
    "are these",
    "are there",
    "which",
    "is",
    "what is the man",
    "is the man",
    "are",
    "how",
    "does this",
    "what is on the",
    "what does the",
    "how many people are",
    "what is in the",
    "what is this",
    "do",
    "what are",
    "are they",
    "what time",
    "what sport is",
    "are there any",
    "is he",
    "what color is",
    "why",
    "where are the",
    "what color",
    "who is",
    "what animal is",
    "is the woman",
    "is this an",
    "do you",
    "how many people are in",
    "what room is",
    "has",
    "is this person",
    "what is the woman",
    "can you",
    "why is the",
    "is the person",
    "what is the color of the",
    "what is the person",
    "could",
    "was",
    "is that a",
    "what number is",
    "what is the name",
    "what brand",
)

# Format instructions appended to LLaVA-665K questions; they are not the question.
_INSTRUCTION_LINES = re.compile(
    r"^(answer (the question |with )|please answer|options?\s*:|[a-h][.)]\s|"
    r"reference ocr token|select the correct|choose the correct|<image>$)",
    re.IGNORECASE,
)
_LEADING_FILLER = ("please", "now", "so", "also", "and", "then", "ok", "okay", "hey")


class LeadingWordsQuestionTypes:
    """Question types from the leading words of each human turn.

    The question is the first sentence ending in '?' (else the first sentence) after format
    instructions are removed. Its type is the longest VQAv2 question type it starts with;
    other questions and instructions ("Describe ...", "Write ...") take their first word.
    """

    def __init__(self, types: Sequence[str] = VQA_QUESTION_TYPES) -> None:
        self.types = sorted({t.lower() for t in types}, key=lambda t: -len(t.split()))

    def question_type(self, text: str) -> str | None:
        question = _question_sentence(text)
        words = [w.lower() for w in _WORD.findall(question)]
        while words and words[0] in _LEADING_FILLER:
            words.pop(0)
        if not words:
            return None
        joined = " ".join(words) + " "
        for qtype in self.types:
            if joined.startswith(qtype + " "):
                return qtype
        return words[0]

    def __call__(self, record: Mapping[str, Any]) -> list[str]:
        types = (self.question_type(text) for text in turn_texts(record, roles=("human",)))
        return _unique(t for t in types if t)


def _question_sentence(text: str) -> str:
    lines = [line.strip() for line in text.splitlines()]
    kept = [line for line in lines if line and not _INSTRUCTION_LINES.match(line)]
    sentences = [s for line in kept for s in _SENTENCE_END.split(line) if s.strip()]
    for sentence in sentences:
        if sentence.rstrip().endswith("?"):
            return sentence
    return sentences[0] if sentences else ""


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
