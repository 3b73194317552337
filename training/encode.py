"""A LLaVA record -> input ids and labels (vicuna_v1, loss only on the assistant's answers).

The whole conversation is tokenized in one call, exactly as a prompt is at inference, and a
token carries loss when it starts inside an answer span of `render_record` (the text after
"ASSISTANT:" up to and including its end-of-turn token). The single <image> token is then
expanded to the number of positions the vision tower fills; image positions never carry loss.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from configs.compose import ConfigError
from curation.data.messages import IMAGE_TOKEN
from training.template import render_record

IGNORE_INDEX = -100


@dataclass(frozen=True)
class Encoded:
    input_ids: torch.Tensor  # (T,) int64
    labels: torch.Tensor  # (T,) int64, IGNORE_INDEX where no loss
    truncated: bool  # cut at model_max_length


class ConversationEncoder:
    def __init__(
        self, tokenizer: PreTrainedTokenizerBase, image_seq_length: int, model_max_length: int
    ) -> None:
        if not tokenizer.is_fast:
            raise TypeError("the conversation encoder needs a fast tokenizer (offset mappings)")
        self.tokenizer = tokenizer
        self.image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
        self.image_seq_length = image_seq_length
        self.model_max_length = model_max_length
        if model_max_length <= image_seq_length:
            raise ConfigError(
                f"config key 'model.model_max_length' ({model_max_length}) leaves "
                f"no room for text after the {image_seq_length} image positions"
            )

    def __call__(self, record: Mapping[str, Any]) -> Encoded:
        rendered = render_record(record, self.tokenizer.eos_token)
        enc = self.tokenizer(rendered.text, return_offsets_mapping=True, add_special_tokens=True)
        ids: list[int] = enc["input_ids"]
        labels = [IGNORE_INDEX] * len(ids)
        spans = rendered.target_spans
        for i, (start, end) in enumerate(enc["offset_mapping"]):
            if end > start and any(a <= start < b for a, b in spans):
                labels[i] = ids[i]
        ids, labels, image_end = self._expand_image(ids, labels)
        truncated = len(ids) > self.model_max_length
        if truncated:
            if image_end > self.model_max_length:
                raise ConfigError(
                    f"config key 'model.model_max_length' ({self.model_max_length}) "
                    f"cuts into the image positions (they end at {image_end})"
                )
            ids, labels = ids[: self.model_max_length], labels[: self.model_max_length]
        return Encoded(
            torch.tensor(ids, dtype=torch.long), torch.tensor(labels, dtype=torch.long), truncated
        )

    def _expand_image(self, ids: list[int], labels: list[int]) -> tuple[list[int], list[int], int]:
        """Ids and labels with the image block expanded, and where the block ends (0: none)."""
        positions = [i for i, token in enumerate(ids) if token == self.image_token_id]
        if not positions:
            return ids, labels, 0
        if len(positions) > 1:
            raise ValueError(f"expected at most one {IMAGE_TOKEN} token, found {len(positions)}")
        p = positions[0]
        block = [self.image_token_id] * self.image_seq_length
        return (
            ids[:p] + block + ids[p + 1 :],
            labels[:p] + [IGNORE_INDEX] * self.image_seq_length + labels[p + 1 :],
            p + self.image_seq_length,
        )
