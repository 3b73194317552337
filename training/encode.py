"""A LLaVA record -> input ids and labels (vicuna_v1, loss only on the assistant's answers).

Two token streams (config key loader.token_stream):

llava (default): LLaVA-1.5's own (train.py preprocess_v1 with mm_utils.tokenizer_image_token).
    The text is cut at `<image>` and each piece tokenized on its own (the <s> of every piece
    but the first dropped), so a SentencePiece tokenizer with legacy=False puts a "▁" after
    the image, as LLaVA's does. Labels come from LLaVA's length arithmetic: the text is split
    into rounds at the end-of-turn string; of each round, its instruction (up to and including
    "ASSISTANT: ", tokenized alone, minus 2 for the <s> and the trailing "▁") is masked and the
    rest carries loss; for rounds after the first a legacy=False tokenizer's extra leading "▁"
    is taken off both lengths. Where the rounds do not add up to the whole conversation (a
    literal end-of-turn string in a turn, an empty turn, a conversation that ends with a
    question, an <unk> token: LLaVA pads with <unk> and counts non-pad tokens) LLaVA masks the
    whole record ("tokenization mismatch"); here it raises `UnsupervisedRecordError` instead,
    which the data pipeline turns into a counted skip or a one-line error (loader.on_error).
whole: the conversation tokenized in one call, exactly as an HF processor tokenizes a prompt at
    inference (no "▁" after the image for legacy=False), a token carrying loss when it starts
    inside an answer span of `render_record`. Records are screened as for llava.

Each <image> token is then expanded to the number of positions the vision tower fills;
image positions never carry loss. A multi-image record (LLaVA-OneVision's "image": [paths])
is rendered as LLaVA-NeXT's preprocess_multimodal does: a turn with one <image> has it moved
to the turn's start, a turn with several keeps them where they are; its k tokens become k
image blocks, in order (HF LLaVA fills them with the images in the same order).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from configs.compose import ConfigError
from configs.errors import UserError
from curation.data.messages import IMAGE_TOKEN
from training.template import ASSISTANT, render_record

IGNORE_INDEX = -100
TOKEN_STREAMS = ("llava", "whole")
ANSWER_SEP = f" {ASSISTANT}: "  # LLaVA's conv.sep + roles[1] + ": "
# Why LLaVA would train on a record with zero supervision, in the order they are reported.
UNSUPERVISED_REASONS = (
    "literal_eos",
    "ends_with_human",
    "empty_turn",
    "unk_token",
    "tokenization_mismatch",
)


@dataclass(frozen=True)
class Encoded:
    input_ids: torch.Tensor  # (T,) int64
    labels: torch.Tensor  # (T,) int64, IGNORE_INDEX where no loss
    truncated: bool  # cut at model_max_length


class UnsupervisedRecordError(UserError, ValueError):
    """A record LLaVA-1.5 would train on with every label masked; `reason` is one of
    UNSUPERVISED_REASONS. The data pipeline adds where the record is (RecordError)."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}")

    def __reduce__(self) -> tuple[Any, ...]:  # keeps it picklable across loader workers
        return type(self), (self.reason, self.detail)


class ConversationEncoder:
    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        image_seq_length: int,
        model_max_length: int,
        token_stream: str = "llava",
    ) -> None:
        if token_stream not in TOKEN_STREAMS:
            raise ValueError(f"token_stream={token_stream!r} is not one of llava, whole")
        if token_stream == "whole" and not tokenizer.is_fast:
            raise TypeError("token_stream=whole needs a fast tokenizer (offset mappings)")
        self.tokenizer = tokenizer
        self.token_stream = token_stream
        self.image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
        self.image_seq_length = image_seq_length
        self.model_max_length = model_max_length
        if model_max_length <= image_seq_length:
            raise ConfigError(
                f"config key 'model.model_max_length' ({model_max_length}) "
                f"leaves no room for text after the {image_seq_length} image positions"
            )
        # A legacy=False SentencePiece tokenizer gives a piece that starts a text a "▁" it does
        # not give the same words after </s>; tokenizers without the setting (byte-level BPE)
        # tokenize both alike.
        self.drops_round_prefix = getattr(tokenizer, "legacy", None) is False

    def screen(self, record: Mapping[str, Any]) -> None:
        """Raise UnsupervisedRecordError where LLaVA-1.5 would mask the whole record (the
        check `__call__` makes, without building the example)."""
        self._llava(record, render_record(record, self.tokenizer.eos_token).text)

    def __call__(self, record: Mapping[str, Any]) -> Encoded:
        rendered = render_record(record, self.tokenizer.eos_token)
        ids, labels = self._llava(record, rendered.text)
        if self.token_stream == "whole":
            ids, labels = self._whole(rendered.text, rendered.target_spans)
        ids, labels, image_end = self._expand_images(ids, labels)
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

    # --- llava: LLaVA-1.5's token stream and length arithmetic ---------------------------

    def _llava(self, record: Mapping[str, Any], text: str) -> tuple[list[int], list[int]]:
        eos = self.tokenizer.eos_token
        rounds = text.split(eos)
        instructions = [piece.split(ANSWER_SEP)[0] + ANSWER_SEP for piece in rounds]
        ids, *parts = self._split_tokenize([text, *rounds, *instructions])
        round_lengths = [len(part) for part in parts[: len(rounds)]]
        instruction_lengths = [len(part) for part in parts[len(rounds) :]]
        labels = list(ids)
        cursor = 1  # LLaVA masks the first position (the <s>)
        labels[0] = IGNORE_INDEX
        for number, piece in enumerate(rounds):
            if piece == "" or len(piece.split(ANSWER_SEP)) != 2:
                break
            round_length = round_lengths[number]
            instruction_length = instruction_lengths[number] - 2
            if number and self.drops_round_prefix:
                round_length, instruction_length = round_length - 1, instruction_length - 1
            for i in range(cursor, min(cursor + instruction_length, len(labels))):
                labels[i] = IGNORE_INDEX
            cursor += round_length
        labels[cursor:] = [IGNORE_INDEX] * max(0, len(labels) - cursor)
        unk = self.tokenizer.unk_token_id
        counted = sum(1 for token in ids if token != unk)  # LLaVA's pad token is <unk>
        if cursor < self.model_max_length and cursor != counted:
            reason, detail = self._why_unsupervised(record, ids)
            raise UnsupervisedRecordError(
                reason, f"{detail} (LLaVA-1.5 masks the whole record: {cursor} vs. {counted})"
            )
        return ids, labels

    def _split_tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        return tokenizer_image_token(self.tokenizer, texts)

    def _why_unsupervised(self, record: Mapping[str, Any], ids: list[int]) -> tuple[str, str]:
        turns = record["conversations"]
        eos = self.tokenizer.eos_token
        for number, turn in enumerate(turns, start=1):
            if eos in str(turn["value"]):
                return "literal_eos", f"turn {number} holds a literal {eos!r}"
        if turns[-1]["from"] == "human":
            return "ends_with_human", f"the last turn ({len(turns)}) is a question"
        for number, turn in enumerate(turns, start=1):
            if str(turn["value"]) == "":
                return "empty_turn", f"turn {number} is empty"
        unk = self.tokenizer.unk_token_id
        if unk is not None and unk in ids:
            return "unk_token", f"the text has {ids.count(unk)} {self.tokenizer.unk_token} token(s)"
        return "tokenization_mismatch", "the rounds' token counts do not add up"

    # --- whole: one tokenizer call, labels by character spans ----------------------------

    def _whole(self, text: str, spans: Sequence[tuple[int, int]]) -> tuple[list[int], list[int]]:
        enc = self.tokenizer(text, return_offsets_mapping=True, add_special_tokens=True)
        ids: list[int] = enc["input_ids"]
        labels = [IGNORE_INDEX] * len(ids)
        for i, (start, end) in enumerate(enc["offset_mapping"]):
            if end > start and any(a <= start < b for a, b in spans):
                labels[i] = ids[i]
        return ids, labels

    def _expand_images(self, ids: list[int], labels: list[int]) -> tuple[list[int], list[int], int]:
        """Ids and labels with every image token expanded to a block, and where the last block
        ends (0: none)."""
        out_ids: list[int] = []
        out_labels: list[int] = []
        end = 0
        for token, label in zip(ids, labels, strict=True):
            if token == self.image_token_id:
                out_ids += [token] * self.image_seq_length
                out_labels += [IGNORE_INDEX] * self.image_seq_length
                end = len(out_ids)
            else:
                out_ids.append(token)
                out_labels.append(label)
        return out_ids, out_labels, end


def tokenizer_image_token(
    tokenizer: PreTrainedTokenizerBase, texts: Sequence[str]
) -> list[list[int]]:
    """LLaVA's tokenizer_image_token of each text (training's and evaluation's one definition):
    the pieces between `<image>`s tokenized one by one, the first piece's leading <s> kept and
    every piece's first id dropped when the first piece starts with <s>, one `<image>` id
    between pieces. With legacy=False SentencePiece, the piece after an image starts with "▁"."""
    chunked = [text.split(IMAGE_TOKEN) for text in texts]
    flat = [chunk for chunks in chunked for chunk in chunks]
    encoded = tokenizer(flat, add_special_tokens=True)["input_ids"]
    bos, image = tokenizer.bos_token_id, tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    result, at = [], 0
    for chunks in chunked:
        pieces = encoded[at : at + len(chunks)]
        at += len(chunks)
        offset = 1 if pieces[0] and pieces[0][0] == bos else 0
        ids = [bos] if offset else []
        for number, piece in enumerate(pieces):
            if number:
                ids.append(image)
            ids.extend(piece[offset:])
        result.append(ids)
    return result
