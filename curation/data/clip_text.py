"""The text side of the tiny CLIP models (curation's CLIP-Score, ToyWorld's foundation CLIP):
a word-level tokenizer built from the texts it will read, and right-padded id batches."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import torch

SPECIAL_TOKENS = ("<pad>", "<unk>", "<bos>", "<eos>")  # eos id 3: CLIP pools at the eos token


def word_level_tokenizer(texts: Sequence[str], vocab_size: int):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    normalizer = normalizers.Lowercase()
    splitter = pre_tokenizers.Whitespace()
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(w for w, _ in splitter.pre_tokenize_str(normalizer.normalize_str(text)))
    words = sorted(counts, key=lambda w: (-counts[w], w))[: vocab_size - len(SPECIAL_TOKENS)]
    vocab = {token: i for i, token in enumerate([*SPECIAL_TOKENS, *words])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = splitter
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<bos> $A <eos>", special_tokens=[("<bos>", 2), ("<eos>", 3)]
    )
    return tokenizer


def clip_tokenizer(texts: Sequence[str], vocab_size: int, max_length: int):
    """word_level_tokenizer wrapped for transformers (what a CLIPModel checkpoint saves)."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=word_level_tokenizer(texts, vocab_size),
        pad_token="<pad>",
        unk_token="<unk>",
        bos_token="<bos>",
        eos_token="<eos>",
        model_max_length=max_length,
    )


def padded_ids(sequences: Sequence[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids (pad id 0) and attention mask, as long as the batch's longest."""
    ids = torch.zeros((len(sequences), max(map(len, sequences))), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = torch.tensor(sequence)
        mask[row, : len(sequence)] = 1
    return ids, mask
