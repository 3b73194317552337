"""The final checkpoint: a Hugging Face LLaVA directory that evaluation loads as is.

    <out_dir>/config.json  generation_config.json  model*.safetensors  merged weights
    <out_dir>/tokenizer.json  tokenizer_config.json  processor_config.json
    <out_dir>/chat_template.jinja                                   vicuna_v1 (training.template)
    <out_dir>/vlmdata_export.json                                   provenance (optional)

Loadable by `LlavaForConditionalGeneration.from_pretrained(out_dir)` and by lmms-eval's
`llava_hf` (model_args "pretrained=<out_dir>,device_map=cpu"). Built in a temporary sibling
directory and renamed into place, so a finished name always holds a complete checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from transformers import LlavaForConditionalGeneration, LlavaProcessor

from curation.data.fileio import atomic_directory, atomic_write_json
from training.template import VICUNA_V1_CHAT_TEMPLATE

METADATA = "vlmdata_export.json"


def merge_lora(model: torch.nn.Module) -> LlavaForConditionalGeneration:
    """A plain LlavaForConditionalGeneration: LoRA adapters (if any) merged into the weights.

    peft merges in place: the adapter-wrapped model passed in is consumed.
    """
    from peft import PeftModel

    if isinstance(model, PeftModel):
        model = model.merge_and_unload()
    if not isinstance(model, LlavaForConditionalGeneration):
        raise TypeError(f"expected a LlavaForConditionalGeneration, got {type(model).__name__}")
    return model


def export_hf(
    model: torch.nn.Module,
    processor: LlavaProcessor,
    out_dir: str | Path,
    dtype: torch.dtype | None = None,
    metadata: Mapping[str, Any] | None = None,
    chat_template: str = VICUNA_V1_CHAT_TEMPLATE,
) -> Path:
    """Write `model` (LoRA merged, cast to `dtype` if given) + processor to `out_dir` atomically.

    Merging and casting happen in place on `model`: call this at the end of training.
    """
    model = merge_lora(model)
    if dtype is not None:
        model = model.to(dtype)
    processor.chat_template = chat_template
    processor.tokenizer.chat_template = chat_template
    out_dir = Path(out_dir)
    with atomic_directory(out_dir) as tmp:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        if metadata is not None:
            atomic_write_json(tmp / METADATA, dict(metadata))
    return out_dir
