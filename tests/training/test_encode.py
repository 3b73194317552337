"""The llava token stream equals LLaVA-1.5's preprocess_v1, token by token.

`llava_preprocess_v1` below re-implements, from its documented behaviour, what LLaVA-1.5's
train.py does to one record: preprocess_multimodal (the <image> of a turn moved to that turn's
start, followed by a newline), the vicuna_v1 prompt (" " after a question, "</s>" after an
answer, "ROLE:" alone for an empty turn), tokenizer_image_token (pieces between <image>s
tokenized apart, their <s> dropped after the first), and the masking of preprocess_v1 (rounds
split at "</s>", each round's instruction length minus 2 masked, minus 1 more on both lengths
for later rounds of a legacy=False tokenizer, a mismatch of the counted lengths masks the
whole record; <unk> is the pad token). The encoder must give the same ids and labels with a
locally built Llama-style SentencePiece tokenizer, legacy true and false.
"""

from __future__ import annotations

import pytest
from transformers import LlamaTokenizer, LlamaTokenizerFast

from training.encode import IGNORE_INDEX, ConversationEncoder, UnsupervisedRecordError
from training.template import SYSTEM

IMAGE_POSITIONS = 4
MAX_LENGTH = 512
LLAVA_IMAGE_INDEX = -200  # LLaVA's placeholder id, expanded by its model
ROLES = {"human": "USER", "gpt": "ASSISTANT"}
# transformers 5 has one Llama tokenizer class; LlamaTokenizerFast is its alias.
TOKENIZER_CLASSES = list(dict.fromkeys([LlamaTokenizer, LlamaTokenizerFast]))


def _turns(*values: str) -> list[dict]:
    return [{"from": ("human", "gpt")[i % 2], "value": v} for i, v in enumerate(values)]


SUPERVISED = {
    "single_turn_image": {
        "image": "a.png",
        "conversations": _turns("<image>\nWhat colour is the circle?", "red"),
    },
    "multi_turn_image": {
        "image": "a.png",
        "conversations": _turns(
            "What colour is the circle?\n<image>",
            "red",
            "How many shapes are there?",
            "three",
            "Describe the image briefly.",
            "A blue triangle above a green star.",
        ),
    },
    "text_only": {"conversations": _turns("Say hi.", "hi")},
    "text_only_multi_turn": {
        "conversations": _turns("Say hi.", "hello there", "Is there a red square?", "Yes")
    },
    "image_in_a_later_turn": {
        "image": "a.png",
        "conversations": _turns("Say hi.", "hi", "Describe <image> briefly.", "A green star."),
    },
    # LLaVA's prompt has "ASSISTANT:USER:" and the answer's round merges with the next one
    "empty_answer_mid_conversation": {
        "image": "a.png",
        "conversations": _turns("<image>\nSay hi.", "", "Which shape is left of the star?", "red"),
    },
}
UNSUPERVISED = {
    "literal_eos": _turns("<image>\nSay hi.", "hi</s>there"),
    "empty_turn": _turns("<image>\nSay hi.", "hi", "What colour is the circle?", ""),
    "ends_with_human": _turns("<image>\nSay hi.", "hi", "And the star?"),
    "unk_token": _turns("<image>\nSay hi.", "a <unk> star"),
}


def _prompt(record: dict) -> str:
    values = []
    for turn in record["conversations"]:
        value = turn["value"]
        if "image" in record and "<image>" in value:
            value = ("<image>\n" + value.replace("<image>", "").strip()).strip()
        values.append((ROLES[turn["from"]], value))
    text = SYSTEM + " "
    for i, (role, value) in enumerate(values):
        text += f"{role}: {value}" + (" ", "</s>")[i % 2] if value else f"{role}:"
    return text


def _image_split(text: str, tokenizer) -> list[int]:
    pieces = [tokenizer(piece).input_ids for piece in text.split("<image>")]
    drop = 1 if pieces[0][:1] == [tokenizer.bos_token_id] else 0
    ids = pieces[0][:drop]
    for k, piece in enumerate(pieces):
        ids += ([LLAVA_IMAGE_INDEX] if k else []) + piece[drop:]
    return ids


def llava_preprocess_v1(record: dict, tokenizer) -> tuple[list[int], list[int], bool]:
    """(input ids with LLaVA's image placeholder, labels, whether LLaVA reports a mismatch)."""
    has_image = "image" in record
    text = _prompt(record)

    def count(part: str) -> int:
        return len(_image_split(part, tokenizer) if has_image else tokenizer(part).input_ids)

    if has_image:
        ids = _image_split(text, tokenizer)
    else:
        ids = tokenizer(text, truncation=True, max_length=MAX_LENGTH).input_ids
    labels = list(ids)
    total = sum(1 for token in ids if token != tokenizer.pad_token_id)
    cur = 1
    labels[0] = IGNORE_INDEX
    for i, part in enumerate(text.split("</s>")):
        if part == "":
            break
        halves = part.split(" ASSISTANT: ")
        if len(halves) != 2:
            break
        round_len, instruction_len = count(part), count(halves[0] + " ASSISTANT: ") - 2
        if i != 0 and not tokenizer.legacy:
            round_len, instruction_len = round_len - 1, instruction_len - 1
        for j in range(cur, min(cur + instruction_len, len(labels))):
            labels[j] = IGNORE_INDEX
        cur += round_len
    labels[cur:] = [IGNORE_INDEX] * len(labels[cur:])
    mismatch = cur < MAX_LENGTH and cur != total
    if mismatch:
        labels = [IGNORE_INDEX] * len(labels)
    return ids, labels, mismatch


def _expanded(ids: list[int], labels: list[int], image_id: int) -> tuple[list[int], list[int]]:
    """LLaVA's model puts the image features where the placeholder is, with no loss on them."""
    out_ids, out_labels = [], []
    for token, label in zip(ids, labels, strict=True):
        if token == LLAVA_IMAGE_INDEX:
            out_ids += [image_id] * IMAGE_POSITIONS
            out_labels += [IGNORE_INDEX] * IMAGE_POSITIONS
        else:
            out_ids.append(token)
            out_labels.append(label)
    return out_ids, out_labels


def _tokenizers(folder, cls, legacy: bool):
    """(LLaVA's: no <image> token, pad = <unk>; ours: <image> added as a special token)."""
    theirs = cls.from_pretrained(folder, legacy=legacy, add_bos_token=True)
    theirs.pad_token = theirs.unk_token
    ours = cls.from_pretrained(folder, legacy=legacy, add_bos_token=True)
    ours.add_special_tokens({"additional_special_tokens": ["<image>"]})
    ours.pad_token = ours.unk_token
    assert theirs.legacy is legacy and ours.legacy is legacy
    return theirs, ours


@pytest.fixture(scope="module", params=[True, False], ids=["legacy", "non_legacy"])
def legacy(request) -> bool:
    return request.param


@pytest.mark.parametrize("cls", TOKENIZER_CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", list(SUPERVISED))
def test_ids_and_labels_equal_llava_preprocess_v1(llama_model_dir, cls, legacy, name):
    record = {"id": name, **SUPERVISED[name]}
    theirs, ours = _tokenizers(llama_model_dir, cls, legacy)
    ids, labels, mismatch = llava_preprocess_v1(record, theirs)
    assert not mismatch and any(label != IGNORE_INDEX for label in labels)  # a real case
    image_id = ours.convert_tokens_to_ids("<image>")
    expected_ids, expected_labels = _expanded(ids, labels, image_id)

    encoded = ConversationEncoder(ours, IMAGE_POSITIONS, MAX_LENGTH)(record)
    assert encoded.input_ids.tolist() == expected_ids
    assert encoded.labels.tolist() == expected_labels


@pytest.mark.parametrize("reason", list(UNSUPERVISED))
def test_records_llava_masks_whole_are_refused_with_their_reason(llama_model_dir, legacy, reason):
    record = {"id": reason, "image": "a.png", "conversations": UNSUPERVISED[reason]}
    theirs, ours = _tokenizers(llama_model_dir, LlamaTokenizer, legacy)
    _, labels, mismatch = llava_preprocess_v1(record, theirs)
    assert mismatch and set(labels) == {IGNORE_INDEX}

    encoder = ConversationEncoder(ours, IMAGE_POSITIONS, MAX_LENGTH)
    for call in (encoder, encoder.screen):
        with pytest.raises(UnsupervisedRecordError) as caught:
            call(record)
        assert caught.value.reason == reason and "\n" not in str(caught.value)


def test_whole_stream_lacks_llava_s_space_after_the_image_only_for_non_legacy(
    llama_model_dir, legacy
):
    record = {"id": "x", **SUPERVISED["single_turn_image"]}
    _, ours = _tokenizers(llama_model_dir, LlamaTokenizer, legacy)
    llava = ConversationEncoder(ours, IMAGE_POSITIONS, MAX_LENGTH)(record)
    whole = ConversationEncoder(ours, IMAGE_POSITIONS, MAX_LENGTH, "whole")(record)
    if legacy:
        assert whole.input_ids.tolist() == llava.input_ids.tolist()
        assert whole.labels.tolist() == llava.labels.tolist()
        return
    ids = llava.input_ids.tolist()
    after_image = ids.index(ours.convert_tokens_to_ids("<image>")) + IMAGE_POSITIONS
    assert ours.convert_ids_to_tokens(ids[after_image]) == "▁"
    assert whole.input_ids.tolist() == ids[:after_image] + ids[after_image + 1 :]
    labels = llava.labels.tolist()
    assert whole.labels.tolist() == labels[:after_image] + labels[after_image + 1 :]


def test_image_stays_in_its_turn(llama_model_dir):
    _, ours = _tokenizers(llama_model_dir, LlamaTokenizer, False)
    record = {"id": "later", **SUPERVISED["image_in_a_later_turn"]}
    ids = ConversationEncoder(ours, IMAGE_POSITIONS, MAX_LENGTH)(record).input_ids.tolist()
    image_id = ours.convert_tokens_to_ids("<image>")
    first = ids.index(image_id)
    assert ours.eos_token_id in ids[:first]  # after the first answer's </s>
    assert ours.decode(ids[:first]).endswith("hi</s>USER: ")
