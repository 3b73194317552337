"""How an evaluation prompt becomes input ids.

    llava  LLaVA-1.5's evaluation (mm_utils.tokenizer_image_token) and vlmdata's training
           (loader.token_stream=llava): the text between `<image>`s is tokenized piece by
           piece, so a SentencePiece tokenizer with legacy=False puts a "▁" after the image
    whole  the HF processor's one call over the prompt (lmms-eval's llava_hf): no "▁" there

With legacy=True, or a byte-level BPE tokenizer, both give the same ids. Each `<image>` becomes
the vision tower's number of positions, as the HF processor expands it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import PreTrainedTokenizerBase

from curation.data.messages import IMAGE_TOKEN
from training.encode import tokenizer_image_token

TOKEN_STREAMS = ("llava", "whole")


def llava_input_ids(
    tokenizer: PreTrainedTokenizerBase, text: str, image_seq_length: int
) -> list[int]:
    """`text` as training's tokenizer_image_token tokenizes it, each image expanded to the
    vision tower's number of positions."""
    image = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    ids: list[int] = []
    for token in tokenizer_image_token(tokenizer, [text])[0]:
        ids.extend([image] * image_seq_length if token == image else [token])
    return ids


def left_padded(rows: Sequence[list[int]], pad_token_id: int) -> dict[str, torch.Tensor]:
    """input_ids and attention_mask of `rows`, padded on the left (generation continues on the
    right of every row)."""
    length = max((len(row) for row in rows), default=0)
    input_ids = torch.full((len(rows), length), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), length), dtype=torch.long)
    for number, row in enumerate(rows):
        if row:
            input_ids[number, -len(row) :] = torch.tensor(row, dtype=torch.long)
            attention_mask[number, -len(row) :] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask}
