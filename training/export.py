"""The final checkpoint: a Hugging Face LLaVA directory that evaluation loads as is.

    <out_dir>/config.json  generation_config.json  model*.safetensors  merged weights
    <out_dir>/tokenizer.json  tokenizer_config.json  processor_config.json
    <out_dir>/chat_template.jinja                                   vicuna_v1 (training.template)
    <out_dir>/vlmdata_export.json                                   provenance (optional)

Loadable by `LlavaForConditionalGeneration.from_pretrained(out_dir)` and by lmms-eval's
`llava_hf` (model_args "pretrained=<out_dir>,device_map=cpu"). Built in a temporary sibling
directory and renamed into place, so a finished name always holds a complete checkpoint.

A sharded run (FSDP, DeepSpeed ZeRO-3) hands in its weights gathered on rank 0
(training.strategy.gathered_model_state): they are loaded into an unsharded copy of the model,
which is then exported as above.
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


def unsharded_copy(model: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> torch.nn.Module:
    """A new model of `model`'s architecture (LoRA adapters included) holding `state`, the full
    weights of a model whose own parameters are sharded across ranks. Built on the meta device,
    so no second set of weights is initialised; a missing, unexpected or misshapen weight
    raises."""
    from peft import PeftModel, get_peft_model

    base = model.get_base_model() if isinstance(model, PeftModel) else model
    if not isinstance(base, LlavaForConditionalGeneration):
        raise TypeError(f"expected a LlavaForConditionalGeneration, got {type(base).__name__}")
    with torch.device("meta"):
        copy: torch.nn.Module = LlavaForConditionalGeneration(base.config)
        if isinstance(model, PeftModel):
            copy = get_peft_model(copy, model.peft_config[model.active_adapter])
    copy.load_state_dict(dict(state), strict=True, assign=True)
    _copy_unsaved_buffers(model, copy)
    return copy


def _copy_unsaved_buffers(source: torch.nn.Module, copy: torch.nn.Module) -> None:
    """Non-persistent buffers (rotary frequencies) are in no state dict, so they are still on
    the meta device: take them from the source model, whose buffers no strategy shards."""
    found = {_unwrapped_name(n): b for n, b in source.named_buffers()}
    for name, buffer in list(copy.named_buffers()):
        if buffer.is_meta:
            owner, _, leaf = name.rpartition(".")
            value = found[name].detach().to("cpu", copy=True)
            copy.get_submodule(owner).register_buffer(leaf, value, persistent=False)


def _unwrapped_name(name: str) -> str:
    """A parameter or buffer name without the wrapper modules FSDP and activation
    checkpointing insert."""
    for wrapper in ("_fsdp_wrapped_module.", "_checkpoint_wrapped_module."):
        name = name.replace(wrapper, "")
    return name


def export_hf(
    model: torch.nn.Module,
    processor: LlavaProcessor,
    out_dir: str | Path,
    dtype: torch.dtype | None = None,
    metadata: Mapping[str, Any] | None = None,
    chat_template: str = VICUNA_V1_CHAT_TEMPLATE,
    state: Mapping[str, torch.Tensor] | None = None,
) -> Path:
    """Write `model` (LoRA merged, cast to `dtype` if given) + processor to `out_dir` atomically.

    `state`: the full weights of a sharded `model` (gathered on rank 0), exported instead of
    its own parameters. Merging and casting happen in place on `model` (without `state`): call
    this at the end of training.
    """
    if state is not None:
        model = unsharded_copy(model, state)
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
