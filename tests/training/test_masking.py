"""vicuna_v1 rendering and label masking: only assistant answers (and their </s>) carry loss."""

from __future__ import annotations

import pytest

from curation.data.messages import record_to_messages
from training.encode import IGNORE_INDEX, ConversationEncoder
from training.template import SYSTEM, VICUNA_V1_CHAT_TEMPLATE, render_record
from training.tokenizer import train_bpe_tokenizer

TWO_TURNS = {
    "id": "two-turns",
    "image": "x.png",
    "conversations": [
        {"from": "human", "value": "What colour is the square?\n<image>"},
        {"from": "gpt", "value": "Red."},
        {"from": "human", "value": "And its shape?"},
        {"from": "gpt", "value": "A square."},
    ],
}
IMAGE_POSITIONS = 4


@pytest.fixture(scope="module")
def tokenizer():
    texts = ["What colour is the square?", "Red.", "And its shape?", "A square.", "Say hi."] * 10
    tok = train_bpe_tokenizer(texts, vocab_size=400)
    tok.chat_template = VICUNA_V1_CHAT_TEMPLATE
    return tok


def test_render_moves_image_to_start_of_first_turn():
    rendered = render_record(TWO_TURNS, "</s>")
    assert rendered.text == (
        f"{SYSTEM} USER: <image>\nWhat colour is the square? ASSISTANT: Red.</s>"
        "USER: And its shape? ASSISTANT: A square.</s>"
    )
    assert [rendered.text[a:b] for a, b in rendered.target_spans] == [" Red.</s>", " A square.</s>"]


def test_exact_loss_positions_of_a_two_turn_record(tokenizer):
    def n_tokens(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    # Hand-derived layout: <s> | prompt 1 (image expanded) | answer 1 | prompt 2 | answer 2
    prompt_1 = f"{SYSTEM} USER: <image>\nWhat colour is the square? ASSISTANT:"
    answer_1 = " Red.</s>"
    prompt_2 = "USER: And its shape? ASSISTANT:"
    answer_2 = " A square.</s>"
    start_1 = 1 + n_tokens(prompt_1) - 1 + IMAGE_POSITIONS
    end_1 = start_1 + n_tokens(answer_1)
    start_2 = end_1 + n_tokens(prompt_2)
    end_2 = start_2 + n_tokens(answer_2)
    expected = list(range(start_1, end_1)) + list(range(start_2, end_2))

    encoded = ConversationEncoder(tokenizer, IMAGE_POSITIONS, 512)(TWO_TURNS)
    ids, labels = encoded.input_ids.tolist(), encoded.labels.tolist()
    assert len(ids) == end_2
    assert [i for i, label in enumerate(labels) if label != IGNORE_INDEX] == expected
    assert all(labels[i] == ids[i] for i in expected)
    assert tokenizer.decode([ids[i] for i in range(start_1, end_1)]) == answer_1
    assert tokenizer.decode([ids[i] for i in range(start_2, end_2)]) == answer_2
    assert ids[end_1 - 1] == ids[end_2 - 1] == tokenizer.eos_token_id
    assert ids[0] == tokenizer.bos_token_id
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    assert ids.count(image_id) == IMAGE_POSITIONS
    assert not encoded.truncated


def test_text_only_record_has_no_image_positions(tokenizer):
    record = {
        "id": "t",
        "conversations": [{"from": "human", "value": "Say hi."}, {"from": "gpt", "value": "hi"}],
    }
    encoded = ConversationEncoder(tokenizer, IMAGE_POSITIONS, 512)(record)
    ids, labels = encoded.input_ids.tolist(), encoded.labels.tolist()
    assert tokenizer.convert_tokens_to_ids("<image>") not in ids
    kept = [ids[i] for i, label in enumerate(labels) if label != IGNORE_INDEX]
    assert tokenizer.decode(kept) == " hi</s>"


def test_truncation_is_flagged(tokenizer):
    encoded = ConversationEncoder(tokenizer, IMAGE_POSITIONS, 40)(TWO_TURNS)
    assert encoded.truncated and len(encoded.input_ids) == 40


def test_chat_template_renders_the_training_text(tokenizer):
    text = tokenizer.apply_chat_template(record_to_messages(TWO_TURNS), tokenize=False)
    assert text == render_record(TWO_TURNS, tokenizer.eos_token).text


def test_chat_template_prompts_like_lmms_eval(tokenizer):
    # lmms-eval's llava_hf passes string content with "<image>\n" already prepended
    as_string = [{"role": "user", "content": "<image>\nWhat colour is the square?"}]
    as_items = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "What colour is the square?"}, {"type": "image"}],
        }
    ]
    expected = f"{SYSTEM} USER: <image>\nWhat colour is the square? ASSISTANT:"
    for messages in (as_string, as_items):
        assert (
            tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            == expected
        )
