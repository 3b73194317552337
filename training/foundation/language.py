"""Stage 0, language: a tiny Llama with the world's tokenizer (the analogue of vicuna).

The byte-level BPE tokenizer is always trained on the corpus' text. With recipe.steps > 0 the
model is also pretrained on the corpus' questions and captions as chat turns in LLaVA-1.5's
vicuna_v1 template, loss on the answers only (training.encode); the default is 0, since that
pretraining did not change what stage 2 learns (bench/RESULTS.md) and cost half the
foundation's time. Saved as a LlamaForCausalLM directory with its tokenizer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm
from transformers import LlamaConfig, LlamaForCausalLM

from training.encode import IGNORE_INDEX, ConversationEncoder
from training.foundation.recipe import LanguageRecipe
from training.foundation.schedule import one_cycle_adamw
from training.tokenizer import record_texts, train_bpe_tokenizer


def build_language_model(records: Sequence[Mapping[str, Any]], recipe: LanguageRecipe, seed: int):
    tokenizer = train_bpe_tokenizer(record_texts(records), recipe.vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=recipe.hidden_size,
        intermediate_size=recipe.intermediate_size,
        num_hidden_layers=recipe.layers,
        num_attention_heads=recipe.heads,
        num_key_value_heads=recipe.heads,
        max_position_embeddings=recipe.max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    return model, tokenizer


def train_language_model(
    records: Sequence[Mapping[str, Any]],
    recipe: LanguageRecipe,
    seed: int,
    folder: Path,
    progress: bool = True,
) -> dict[str, Any]:
    """Train on text-only LLaVA records (recipe.steps of them; 0: none); save model and
    tokenizer to `folder`."""
    model, tokenizer = build_language_model(records, recipe, seed)
    if recipe.steps == 0:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        return {"steps": 0}
    encoder = ConversationEncoder(tokenizer, 0, recipe.max_position_embeddings)
    encoded = [encoder(record) for record in records]
    optimiser, schedule = one_cycle_adamw(model.parameters(), recipe.lr, recipe.steps)
    rng = np.random.default_rng(seed)
    batch_size = min(recipe.batch_size, len(encoded))
    losses = []
    model.train()
    for _ in tqdm(range(recipe.steps), desc="stage 0: tiny LM", disable=not progress):
        batch = [encoded[i] for i in rng.choice(len(encoded), size=batch_size, replace=False)]
        length = max(len(e.input_ids) for e in batch)
        ids = torch.full((batch_size, length), tokenizer.pad_token_id, dtype=torch.long)
        labels = torch.full((batch_size, length), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((batch_size, length), dtype=torch.long)
        for row, e in enumerate(batch):
            ids[row, : len(e.input_ids)] = e.input_ids
            labels[row, : len(e.labels)] = e.labels
            mask[row, : len(e.input_ids)] = 1
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        losses.append(float(loss.detach()))
    model.eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return {
        "steps": recipe.steps,
        "first_loss": losses[0],
        "final_loss": float(np.mean(losses[-20:])),
    }
