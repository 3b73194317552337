"""Evaluation prompts are tokenized as LLaVA-1.5's evaluation and vlmdata's training tokenize
them (token_stream=llava), or in one processor call (whole, llava_hf's)."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from configs.compose import ConfigError
from evaluation.errors import EvalError
from evaluation.suites import eval_config
from evaluation.tokens import left_padded, llava_input_ids
from training.template import VICUNA_V1_CHAT_TEMPLATE

QUESTION = "What colour is the circle?"
IMAGE_POSITIONS = 3


def _llama(folder, legacy: bool):
    from transformers import LlamaTokenizer

    tokenizer = LlamaTokenizer.from_pretrained(folder, legacy=legacy, add_bos_token=True)
    tokenizer.add_tokens(["<image>"], special_tokens=True)
    tokenizer.chat_template = VICUNA_V1_CHAT_TEMPLATE
    assert tokenizer.legacy is legacy
    return tokenizer


def _eval_prompt(tokenizer) -> str:
    content = [{"type": "image"}, {"type": "text", "text": QUESTION}]
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": content}], tokenize=False, add_generation_prompt=True
    )


@pytest.mark.parametrize("legacy", [True, False])
def test_evaluation_ids_are_the_start_of_trainings(llama_model_dir, legacy):
    from training.encode import ConversationEncoder

    tokenizer = _llama(llama_model_dir, legacy)
    prompt = _eval_prompt(tokenizer)
    ids = llava_input_ids(tokenizer, prompt, IMAGE_POSITIONS)
    record = {
        "id": "r0",
        "image": "x.png",
        "conversations": [
            {"from": "human", "value": f"<image>\n{QUESTION}"},
            {"from": "gpt", "value": "red"},
        ],
    }
    encoder = ConversationEncoder(tokenizer, IMAGE_POSITIONS, 256, token_stream="llava")
    trained = encoder(record).input_ids.tolist()
    assert trained[: len(ids)] == ids
    tokens = tokenizer.convert_ids_to_tokens(trained[len(ids) :])
    assert "".join(tokens).replace("▁", " ").strip() == "red</s>"  # training adds the answer

    image = tokenizer.convert_tokens_to_ids("<image>")
    after = ids.index(image) + IMAGE_POSITIONS
    assert ids[after - IMAGE_POSITIONS : after] == [image] * IMAGE_POSITIONS
    whole = tokenizer(prompt.replace("<image>", "<image>" * IMAGE_POSITIONS))["input_ids"]
    if legacy:
        assert ids == whole
    else:  # LLaVA's stream has one "▁" after the image block that the one-call stream lacks
        assert tokenizer.convert_ids_to_tokens(ids[after]) == "▁"
        assert ids[:after] + ids[after + 1 :] == whole


def test_left_padding():
    batch = left_padded([[5, 6, 7], [8]], pad_token_id=0)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [0, 0, 8]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [0, 0, 1]]


def test_byte_level_bpe_gives_the_processors_batch(tiny_checkpoint):
    from evaluation.model import VlmdataLlava

    prompts = [
        ("USER: <image>\nWhat colour is the circle? ASSISTANT:", [Image.new("RGB", (48, 32))]),
        ("USER: <image>\nHow many? ASSISTANT:", [Image.effect_noise((40, 64), 50)]),
    ]
    llava, whole = (
        VlmdataLlava(str(tiny_checkpoint), progress=False, token_stream=stream)._inputs(prompts)
        for stream in ("llava", "whole")
    )
    assert set(llava) == set(whole) == {"input_ids", "attention_mask", "pixel_values"}
    for key in llava:
        assert torch.equal(llava[key], whole[key]), key
    assert llava["attention_mask"][1, 0] == 0  # the shorter prompt is padded on the left


def test_an_unknown_stream_is_one_line_naming_the_key(tiny_checkpoint):
    from evaluation.model import VlmdataLlava

    with pytest.raises(EvalError, match="token_stream must be one of llava|whole"):
        VlmdataLlava(str(tiny_checkpoint), token_stream="split")
    with pytest.raises(ConfigError, match="'model.token_stream' must be one of llava|whole"):
        eval_config(["suite=toyworld", "model.token_stream=split"])
    assert eval_config(["suite=toyworld"]).model.token_stream == "llava"
