"""Question text as word n-grams: normalised, with each task's recurring sentences left out.

Normalising lowercases, drops the <image> token and turns every character that is not a
letter, digit or underscore into a space, so case, punctuation and line breaks never hide
an overlap. A benchmark question is cut into sentences (at line breaks and at . ? ! before
a space); sentences that recur across a task's questions (instructions such as "Answer the
question using a single word or phrase.", fixed stems) are dropped, and n-grams are taken
inside each run of the remaining sentences, never across a dropped one. N-grams are kept as
Python hashes of their text: ~8 bytes each instead of the words.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from curation.data.messages import IMAGE_TOKEN

_SENTENCE_END = re.compile(r"\n|(?<=[.?!])\s+")
_NOT_WORD = re.compile(r"[^\w\s]")


def words(text: str) -> list[str]:
    return _NOT_WORD.sub(" ", text.replace(IMAGE_TOKEN, " ").lower()).split()


def sentences(text: str) -> list[str]:
    """The sentences of `text`, each normalised to its words joined by one space."""
    found = (" ".join(words(part)) for part in _SENTENCE_END.split(text))
    return [sentence for sentence in found if sentence]


def ngrams(tokens: list[str], n: int) -> set[int]:
    return {hash(" ".join(tokens[i : i + n])) for i in range(len(tokens) - n + 1)}


def boilerplate(questions: Iterable[str], share: float, min_count: int) -> set[str]:
    """Sentences found in at least max(min_count, share x questions) of `questions`."""
    counts: Counter[str] = Counter()
    n = 0
    for question in questions:
        n += 1
        counts.update(set(sentences(question)))
    floor = max(min_count, share * n)
    return {sentence for sentence, count in counts.items() if count >= floor}


def question_ngrams(question: str, n: int, dropped: set[str]) -> set[int]:
    """The n-grams of `question` outside its `dropped` sentences."""
    grams: set[int] = set()
    run: list[str] = []
    for sentence in [*sentences(question), None]:
        if sentence is None or sentence in dropped:
            grams |= ngrams(run, n)
            run = []
        else:
            run.extend(sentence.split())
    return grams


def record_ngrams(texts: Iterable[str], n: int) -> set[int]:
    """The n-grams of a record's human turns, read as one text."""
    return ngrams([word for text in texts for word in words(text)], n)
