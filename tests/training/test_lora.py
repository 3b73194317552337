"""Which weights train: LoRA wraps only the language model, and the projector trains."""

from __future__ import annotations

import re

import torch

from training.config import LoraConfig
from training.data import Collator, LlavaDataset
from training.finetune import lora_module_names, prepare_model, trainable_parameter_names
from training.models import build_tiny_llava
from training.tokenizer import record_texts

LM_LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def _batch(records, tmp_path, processor):
    dataset = LlavaDataset(records, tmp_path, processor, 256)
    return Collator(processor.tokenizer.pad_token_id)([dataset[i] for i in range(len(records))])


def test_lora_wraps_only_language_model_linears_and_trains_the_projector(tmp_path, image_records):
    records = image_records(tmp_path, 6)
    model, processor = build_tiny_llava(record_texts(records), seed=0)
    n_layers = model.config.text_config.num_hidden_layers
    model = prepare_model(model, "lora", LoraConfig(r=8, alpha=16, dropout=0.0))

    wrapped = lora_module_names(model)
    expected = {
        f"base_model.model.model.language_model.layers.{i}.{part}.{name}"
        for i in range(n_layers)
        for part, names in (("self_attn", LM_LINEARS[:4]), ("mlp", LM_LINEARS[4:]))
        for name in names
    }
    assert set(wrapped) == expected
    assert not any(
        "vision_tower" in name or "projector" in name or "lm_head" in name for name in wrapped
    )

    trainable = trainable_parameter_names(model)
    assert all(re.search(r"\.lora_[AB]\.|multi_modal_projector\.", n) for n in trainable)
    assert any("multi_modal_projector.linear_1.weight" in n for n in trainable)

    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    batch = _batch(records, tmp_path, processor)
    loss = model(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        labels=batch["labels"],
        pixel_values=batch["pixel_values"],
    ).loss
    loss.backward()
    optimizer.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert any("multi_modal_projector" in n for n in changed)
    assert any("lora_B" in n for n in changed)
    assert changed <= set(trainable)


def test_full_finetune_freezes_only_the_vision_tower(tmp_path, image_records):
    records = image_records(tmp_path, 3)
    model, _ = build_tiny_llava(record_texts(records), seed=0)
    model = prepare_model(model, "full", LoraConfig())
    for name, param in model.named_parameters():
        assert param.requires_grad == ("vision_tower" not in name), name
