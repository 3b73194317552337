"""A byte-level BPE tokenizer trained on the fly on a pool's texts (for the tiny model).

Byte-level: any text encodes (no <unk> at inference on unseen characters). Like Llama's, it
prepends <s>; its <image> token is registered as the tokenizer's `image_token`.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from training.template import ASSISTANT, IMAGE_TOKEN, SYSTEM, USER

SPECIAL_TOKENS = ("<unk>", "<s>", "</s>", "<pad>", IMAGE_TOKEN)


def train_bpe_tokenizer(texts: Iterable[str], vocab_size: int = 512) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on `texts` (+ the template's words) and wrap it for transformers.

    Deterministic for the same texts in the same order.
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
    core.train_from_iterator(_chain(template_words, texts), trainer=trainer)
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


def record_texts(records: Iterable[dict]) -> Iterable[str]:
    """Every turn's text of LLaVA records (without <image>), in order: tokenizer training input."""
    for record in records:
        for turn in record.get("conversations", ()):
            yield str(turn.get("value", "")).replace(IMAGE_TOKEN, "")
