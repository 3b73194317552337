"""Lightning strategies by name; FSDP wraps LLaMA decoder and CLIP encoder layers."""

from __future__ import annotations

from pytorch_lightning.strategies import Strategy


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
