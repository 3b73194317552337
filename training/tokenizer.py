"""A byte-level BPE tokenizer trained on the fly on a pool's texts (for the tiny model).

Byte-level: any text encodes (no <unk> at inference on unseen characters). Like Llama's, it
prepends <s>; its <image> token is registered as the tokenizer's `image_token`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from curation.data.messages import IMAGE_TOKEN
from training.template import ASSISTANT, SYSTEM, USER

SPECIAL_TOKENS = ("<unk>", "<s>", "</s>", "<pad>", IMAGE_TOKEN)
# The BPE trainer's time grows with the square of a pre-token's length (a 100K-character run
# of one letter takes seconds, 400K a minute), so runs without whitespace longer than this
# reach it cut into pieces of this length. Real words and URLs are far shorter.
MAX_RUN_CHARS = 256
_LONG_RUN = re.compile(rf"\S{{{MAX_RUN_CHARS + 1},}}")


def train_bpe_tokenizer(texts: Iterable[str], vocab_size: int = 512) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on `texts` (+ the template's words) and wrap it for transformers.

    Deterministic for the same texts in the same order; linear in the texts' length.
    """
    core = Tokenizer(models.BPE(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    template_words = [SYSTEM, f"{USER}: {ASSISTANT}:"]
    core.train_from_iterator(_bounded(_chain(template_words, texts)), trainer=trainer)
    bos = core.token_to_id("<s>")
    core.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", bos)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        extra_special_tokens={"image_token": IMAGE_TOKEN},
        padding_side="right",
    )


def _chain(first: Iterable[str], rest: Iterable[str]) -> Iterable[str]:
    yield from first
    yield from rest


def _bounded(texts: Iterable[str]) -> Iterator[str]:
    """The texts, with every run of more than MAX_RUN_CHARS non-space characters cut into
    pieces of MAX_RUN_CHARS (each yielded as its own text)."""
    for text in texts:
        start = 0
        for run in _LONG_RUN.finditer(text):
            if run.start() > start:
                yield text[start : run.start()]
            for piece in range(run.start(), run.end(), MAX_RUN_CHARS):
                yield text[piece : min(piece + MAX_RUN_CHARS, run.end())]
            start = run.end()
        if start < len(text) or not text:
            yield text[start:]


def record_texts(records: Iterable[dict]) -> Iterable[str]:
    """Every turn's text of LLaVA records (without <image>), in order: tokenizer training input."""
    for record in records:
        for turn in record.get("conversations", ()):
            yield str(turn.get("value", "")).replace(IMAGE_TOKEN, "")
