"""Which weights train: the LLaVA-1.5 full recipe or COINCIDE's LoRA recipe.

full: vision tower frozen; projector and the whole language model (embeddings, lm_head) train.
lora: LoRA adapters on the language model's linear layers only (never the vision tower, whose
      attention also has q_proj/v_proj); the projector trains fully; everything else frozen.
projector: LLaVA's stage 1 (tune_mm_mlp_adapter): only the projector trains.
"""

from __future__ import annotations

import torch
from peft import LoraConfig as PeftLoraConfig
from peft import PeftModel, get_peft_model

from training.config import LoraConfig

PROJECTOR = "multi_modal_projector"
VISION_TOWER = "vision_tower"


def prepare_full(model: torch.nn.Module) -> torch.nn.Module:
    for name, param in model.named_parameters():
        param.requires_grad = VISION_TOWER not in name
    return model


def prepare_projector(model: torch.nn.Module) -> torch.nn.Module:
    for name, param in model.named_parameters():
        param.requires_grad = PROJECTOR in name
    return model


def prepare_lora(model: torch.nn.Module, cfg: LoraConfig) -> PeftModel:
    peft_config = PeftLoraConfig(
        r=cfg.r,
        lora_alpha=cfg.alpha,
        lora_dropout=cfg.dropout,
        target_modules=cfg.target_modules,
        bias="none",
        task_type="CAUSAL_LM",
    )
    wrapped = get_peft_model(model, peft_config)
    for name, param in wrapped.named_parameters():
        if PROJECTOR in name:
            param.requires_grad = True
        if param.requires_grad and param.dtype in (torch.float16, torch.bfloat16):
            # a half-precision base stays frozen; the weights AdamW updates are kept in fp32
            param.data = param.data.float()
    return wrapped


def prepare_model(model: torch.nn.Module, method: str, lora: LoraConfig) -> torch.nn.Module:
    """Freeze and wrap `model` for `method` ("full", "lora" or "projector")."""
    if method == "lora":
        return prepare_lora(model, lora)
    if method == "projector":
        return prepare_projector(model)
    return prepare_full(model)


def lora_module_names(model: torch.nn.Module) -> list[str]:
    """Names of the modules that carry LoRA adapters."""
    return [
        name
        for name, module in model.named_modules()
        if hasattr(module, "lora_A") and len(module.lora_A) > 0
    ]


def trainable_parameter_names(model: torch.nn.Module) -> list[str]:
    return [name for name, param in model.named_parameters() if param.requires_grad]


def is_projector(name: str) -> bool:
    return PROJECTOR in name
