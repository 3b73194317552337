"""Batches of records with 0, 1 and k images: image blocks in place, pixels in <image> order."""

from __future__ import annotations

import pytest
import torch

from curation.data.records import RecordError
from training.data import Collator, LlavaDataset
from training.encode import tokenizer_image_token
from training.images import expand_to_square, load_image, mean_colour
from training.models import build_tiny_llava, num_image_tokens
from training.template import SYSTEM, render_record
from training.tokenizer import record_texts


def _turns(*values: str) -> list[dict]:
    return [{"from": ("human", "gpt")[i % 2], "value": v} for i, v in enumerate(values)]


@pytest.fixture
def mixed(tmp_path, image_records):
    """r0, r1 (one image each), 'text', then 'pair' (two images in one turn) and 'spread'
    (one image in each of two turns; the second turn's token comes after its text)."""
    records = image_records(tmp_path, 3)  # img/0.png red, 1.png green, 2.png blue
    records.append(
        {
            "id": "pair",
            "image": ["img/2.png", "img/0.png"],
            "conversations": _turns("<image>\n<image>\nWhich one is blue?", "the first"),
        }
    )
    records.append(
        {
            "id": "spread",
            "image": ["img/1.png", "img/2.png"],
            "conversations": _turns("<image>\nColour?", "green", "And this? <image>", "blue"),
        }
    )
    return [records[0], records[3], records[4], records[1], records[5]]


def test_a_turn_with_several_images_keeps_them_in_place_one_image_moves_to_the_start():
    pair = {"image": ["a", "b"], "conversations": _turns("<image>\n<image>\nSame?", "no")}
    expected = f"{SYSTEM} USER: <image>\n<image>\nSame? ASSISTANT: no</s>"
    assert render_record(pair, "</s>").text == expected
    spread = {"image": ["a", "b"], "conversations": _turns("<image>\nA?", "a", "B <image>", "b")}
    rendered = render_record(spread, "</s>")
    assert rendered.text == (
        f"{SYSTEM} USER: <image>\nA? ASSISTANT: a</s>USER: <image>\nB ASSISTANT: b</s>"
    )
    assert [rendered.text[a:b] for a, b in rendered.target_spans] == [" a</s>", " b</s>"]


def test_a_batch_of_0_1_and_k_image_records_trains(tmp_path, mixed):
    model, processor = build_tiny_llava(record_texts(mixed))
    tokenizer = processor.tokenizer
    dataset = LlavaDataset(mixed, tmp_path, processor, 256)
    batch = Collator(tokenizer.pad_token_id)([dataset[i] for i in range(len(mixed))])

    block = num_image_tokens(processor)
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    for row, (record, expected_images) in enumerate(zip(mixed, (1, 0, 2, 1, 2), strict=True)):
        ids = batch["input_ids"][row][batch["attention_mask"][row].bool()].tolist()
        assert ids.count(image_id) == expected_images * block
        # each block is contiguous and stands exactly where the rendered text has <image>
        collapsed = [t for i, t in enumerate(ids) if t != image_id or ids[i - 1] != image_id]
        text = render_record(record, tokenizer.eos_token).text
        assert collapsed == tokenizer_image_token(tokenizer, [text])[0]

    paths = ["img/0.png", "img/2.png", "img/0.png", "img/1.png", "img/1.png", "img/2.png"]
    background = mean_colour(processor.image_processor.image_mean)
    squares = [expand_to_square(load_image(tmp_path / p), background) for p in paths]
    expected = processor.image_processor(squares, return_tensors="pt")["pixel_values"]
    assert torch.equal(batch["pixel_values"], expected)

    model.train()
    loss = model(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        labels=batch["labels"],
        pixel_values=batch["pixel_values"],
    ).loss
    assert torch.isfinite(loss)
    loss.backward()
    projector = [p.grad for n, p in model.named_parameters() if "projector" in n]
    assert projector and all(g is not None and g.abs().sum() > 0 for g in projector)


def test_a_record_whose_images_and_tokens_disagree_is_refused(tmp_path, mixed):
    mixed[2] = {**mixed[2], "image": ["img/1.png", "img/2.png", "img/0.png"]}
    _, processor = build_tiny_llava(record_texts(mixed))
    strict = LlavaDataset(mixed, tmp_path, processor, 256, records_path=tmp_path / "r.json")
    with pytest.raises(RecordError) as caught:
        strict[2]
    assert str(caught.value) == (
        f"{tmp_path / 'r.json'}: record 2 (id='pair'): image_token_count: "
        "record has 3 image(s) and 2 '<image>' tokens"
    )
    lenient = LlavaDataset(mixed, tmp_path, processor, 256, on_error="skip")
    batch = Collator(processor.tokenizer.pad_token_id)([lenient[i] for i in range(len(mixed))])
    assert (batch["n_skipped"], batch["n_samples"]) == (1, 4)
    assert batch["pixel_values"].shape[0] == 4


def test_a_missing_second_image_is_one_line_naming_it(tmp_path, mixed):
    mixed[4] = {**mixed[4], "image": ["img/1.png", "img/9.png"]}
    _, processor = build_tiny_llava(record_texts(mixed))
    dataset = LlavaDataset(mixed, tmp_path, processor, 256)
    with pytest.raises(RecordError, match=r"record 4 \(id='spread'\): image_missing: .*9\.png"):
        dataset[4]
