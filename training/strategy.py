"""Lightning strategies by name (FSDP wraps LLaMA decoder and CLIP encoder layers), and the
full weights of a sharded run gathered onto rank 0 for the export."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.distributed as dist
from pytorch_lightning.strategies import Strategy

if TYPE_CHECKING:
    import pytorch_lightning as pl

# the LightningModule's attribute that holds the HF model (training.module.LlavaFinetune)
MODEL_PREFIX = "model."


def make_strategy(name: str) -> str | Strategy:
    """ "auto", "ddp", "ddp_spawn" and the deepspeed names go to Lightning as they are (deepspeed
    needs the `deepspeed` package); "fsdp" gets layer-wise wrapping and keeps the original
    parameters (the frozen vision tower sits beside trainable weights)."""
    if name != "fsdp":
        return name
    from pytorch_lightning.strategies import FSDPStrategy
    from transformers.models.clip.modeling_clip import CLIPEncoderLayer
    from transformers.models.llama.modeling_llama import LlamaDecoderLayer

    return FSDPStrategy(
        auto_wrap_policy={LlamaDecoderLayer, CLIPEncoderLayer},
        use_orig_params=True,
        sharding_strategy="FULL_SHARD",
        state_dict_type="full",
    )


def gathered_model_state(trainer: pl.Trainer) -> dict[str, torch.Tensor] | None:
    """The HF model's full weights, on CPU, when the strategy shards them (FSDP, DeepSpeed
    ZeRO-3): the whole state dict on rank 0, {} on the other ranks. None when every rank holds
    the whole model (DDP, one device). A collective: every rank must call it."""
    from pytorch_lightning.strategies import DeepSpeedStrategy, FSDPStrategy, ModelParallelStrategy

    strategy = trainer.strategy
    if isinstance(strategy, (FSDPStrategy, ModelParallelStrategy)):
        assert strategy.model is not None
        state = full_state_dict(strategy.model)
    elif isinstance(strategy, DeepSpeedStrategy) and strategy.zero_stage_3:
        state = _zero3_state_dict(trainer.lightning_module)
    else:
        return None
    return {k[len(MODEL_PREFIX) :]: v for k, v in state.items() if k.startswith(MODEL_PREFIX)}


def full_state_dict(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """`module`'s unsharded state dict on rank 0 ({} elsewhere), for a module sharded by FSDP
    (wrapper or fully_shard) or a plain one; the names are the unwrapped module's."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    # cpu_offload also makes it rank 0 only: the other ranks never hold the whole model
    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_model_state_dict(module, options=options)


def _zero3_state_dict(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """ZeRO-3 keeps a slice of each parameter per rank; gather them one at a time (the whole
    model never sits on one device) and keep the copies on rank 0. Buffers are not partitioned."""
    import deepspeed

    rank0 = not dist.is_initialized() or dist.get_rank() == 0
    state: dict[str, torch.Tensor] = {}
    for name, param in module.named_parameters():
        with deepspeed.zero.GatheredParameters([param], modifier_rank=None):
            if rank0:
                state[name] = param.detach().to("cpu", copy=True)
    if rank0:
        for name, buffer in module.named_buffers():
            owner, _, leaf = name.rpartition(".")
            if leaf not in module.get_submodule(owner)._non_persistent_buffers_set:
                state[name] = buffer.detach().to("cpu", copy=True)
    return state
