"""Question text as n-grams: normalisation, sentences, boilerplate, no n-gram across a gap."""

from __future__ import annotations

from curation.decontaminate.text import (
    boilerplate,
    ngrams,
    question_ngrams,
    record_ngrams,
    sentences,
    words,
)


def test_words_ignore_case_punctuation_and_the_image_token() -> None:
    assert words("<image>\nWhat's the COLOUR, of-the star?") == [
        "what",
        "s",
        "the",
        "colour",
        "of",
        "the",
        "star",
    ]


def test_sentences_split_at_lines_and_sentence_ends() -> None:
    text = "Look at it. Is the star red?\nA. yes\nB. no\nAnswer with the letter."
    assert sentences(text) == [
        "look at it",
        "is the star red",
        "a",
        "yes",
        "b",
        "no",
        "answer with the letter",
    ]


def test_boilerplate_needs_the_share_and_the_floor() -> None:
    questions = [f"Item {i} is here. Answer briefly." for i in range(10)]
    questions += ["Rare one. Said twice.", "Other. Said twice."]
    assert boilerplate(questions, share=0.5, min_count=3) == {"answer briefly"}
    assert boilerplate(questions, share=0.1, min_count=2) == {"answer briefly", "said twice"}


def test_ngrams_of_a_short_text_are_none() -> None:
    assert ngrams(["a", "b"], 3) == set()
    assert len(ngrams(list("abcde"), 3)) == 3


def test_question_ngrams_skip_dropped_sentences_and_never_span_them() -> None:
    question = "one two three. Drop me. four five six"
    kept = question_ngrams(question, 3, dropped={"drop me"})
    assert kept == ngrams(["one", "two", "three"], 3) | ngrams(["four", "five", "six"], 3)
    assert question_ngrams(question, 4, dropped={"drop me"}) == set()
    joined = question_ngrams(question, 4, dropped=set())
    assert ngrams(["three", "drop", "me", "four"], 4) <= joined


def test_record_ngrams_join_turns() -> None:
    grams = record_ngrams(["<image>\nOne two", "three four"], 4)
    assert grams == ngrams(["one", "two", "three", "four"], 4)
