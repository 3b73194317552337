"""Build or load the LLaVA model and processor that training starts from.

Three sources, one result (`LlavaForConditionalGeneration`, `LlavaProcessor`):
  - `load_hf_llava`: any HF LLaVA checkpoint by name or directory (e.g. llava-hf/llava-1.5-7b-hf,
    or a directory written by `training.export.export_hf`);
  - `assemble_llava15`: the LLaVA-1.5 stage-2 starting point (both ADR and COINCIDE finetune
    from it): a language model (vicuna-7b-v1.5), a CLIP vision tower
    (clip-vit-large-patch14-336) and LLaVA's stage-1 `mm_projector.bin`;
  - `build_tiny_llava`: a ~150K-parameter LLaVA built from config with a BPE tokenizer trained
    on the pool's texts, which learns ToyWorld on a CPU in minutes.
Every processor uses the PIL image backend (same pixels with or without torchvision) and
carries the vicuna_v1 chat template of `training.template`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import (
    AutoImageProcessor,
    AutoModelForCausalLM,
    AutoProcessor,
    AutoTokenizer,
    CLIPImageProcessorPil,
    CLIPVisionConfig,
    CLIPVisionModel,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
    PreTrainedTokenizerBase,
)
from transformers.models.llava.modeling_llava import LlavaMultiModalProjector

from configs.errors import InputNotFoundError, UserError
from curation.data.messages import IMAGE_TOKEN
from training.config import FOUNDATION_OF_WORLD, ModelConfig, TinyModelConfig
from training.template import VICUNA_V1_CHAT_TEMPLATE
from training.tokenizer import train_bpe_tokenizer

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
PROJECTOR_KEYS = {  # LLaVA's mlp2x_gelu projector -> transformers' LlavaMultiModalProjector
    "mm_projector.0.weight": "linear_1.weight",
    "mm_projector.0.bias": "linear_1.bias",
    "mm_projector.2.weight": "linear_2.weight",
    "mm_projector.2.bias": "linear_2.bias",
}


class ModelSourceError(UserError, ValueError):
    """A model source that cannot be used as given (one line naming the file or key)."""


# --- processors ------------------------------------------------------------------------------


def load_image_processor(name_or_path: str, local_files_only: bool = True):
    """The image processor of a checkpoint or vision tower, always with the PIL backend."""
    return AutoImageProcessor.from_pretrained(
        name_or_path, backend="pil", local_files_only=local_files_only
    )


def make_processor(
    image_processor,
    tokenizer: PreTrainedTokenizerBase,
    patch_size: int,
    chat_template: str = VICUNA_V1_CHAT_TEMPLATE,
) -> LlavaProcessor:
    """A LlavaProcessor for a CLIP tower (one CLS token, dropped by the 'default' strategy)."""
    tokenizer.chat_template = chat_template
    return LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=chat_template,
        image_token=IMAGE_TOKEN,
    )


def num_image_tokens(processor: LlavaProcessor) -> int:
    """How many <image> positions one image fills (576 for CLIP-L/14 at 336 px)."""
    crop = processor.image_processor.crop_size
    n = (crop["height"] // processor.patch_size) * (crop["width"] // processor.patch_size)
    n += processor.num_additional_image_tokens
    return n - 1 if processor.vision_feature_select_strategy == "default" else n


# --- (a) an HF LLaVA checkpoint ----------------------------------------------------------------


def load_hf_llava(
    name_or_path: str,
    dtype: torch.dtype = torch.float32,
    local_files_only: bool = True,
    attn_implementation: str | None = None,
    chat_template: str = VICUNA_V1_CHAT_TEMPLATE,
) -> tuple[LlavaForConditionalGeneration, LlavaProcessor]:
    """Load an HF LLaVA checkpoint (hub name in the local cache, or a directory).

    The processor gets the PIL image backend and the vicuna_v1 chat template (llava-hf's own
    template lacks LLaVA-1.5's system line).
    """
    kwargs: dict = {"dtype": dtype, "local_files_only": local_files_only}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    model = LlavaForConditionalGeneration.from_pretrained(name_or_path, **kwargs)
    processor = AutoProcessor.from_pretrained(name_or_path, local_files_only=local_files_only)
    processor.image_processor = load_image_processor(name_or_path, local_files_only)
    processor.chat_template = chat_template
    processor.tokenizer.chat_template = chat_template
    _ensure_pad_token(processor.tokenizer)
    return model, processor


# --- (b) LLaVA-1.5 stage 2 from its parts ------------------------------------------------------


def load_projector_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """LLaVA's stage-1 projector file -> LlavaMultiModalProjector keys (linear_1/linear_2).

    Accepts `.bin`/`.pt` (read with torch.load(weights_only=True): nothing is unpickled) or
    `.safetensors`, with keys like `model.mm_projector.0.weight` (any prefix).
    """
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"projector file not found: {path}")
    if path.suffix == ".safetensors":
        raw = load_file(str(path))
    else:
        try:
            raw = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # pickle errors of many types
            raise ModelSourceError(f"{path}: not a weights-only torch file: {exc}") from None
    converted: dict[str, torch.Tensor] = {}
    for key, value in raw.items():
        for suffix, target in PROJECTOR_KEYS.items():
            if key == suffix or key.endswith("." + suffix):
                converted[target] = value
    missing = sorted(set(PROJECTOR_KEYS.values()) - set(converted))
    if missing:
        raise ModelSourceError(
            f"{path}: no mlp2x_gelu projector keys for {', '.join(missing)} "
            f"(expected keys ending in {', '.join(PROJECTOR_KEYS)}; found {', '.join(sorted(raw))})"
        )
    return converted


def load_lm_tokenizer(name_or_path: str, local_files_only: bool = True) -> PreTrainedTokenizerBase:
    """The language model's tokenizer with `<image>` added and a pad token (LLaVA-1.5's recipe).

    Works from `tokenizer.json` or from a SentencePiece `tokenizer.model` alone (vicuna-7b-v1.5
    ships only the latter), which transformers converts through protobuf.
    """
    tokenizer = AutoTokenizer.from_pretrained(name_or_path, local_files_only=local_files_only)
    # the processor records "<image>" as its image_token (processor_config.json)
    tokenizer.add_special_tokens(
        {"extra_special_tokens": [IMAGE_TOKEN]}, replace_extra_special_tokens=False
    )
    _ensure_pad_token(tokenizer)
    return tokenizer


def assemble_llava15(
    language_model: str,
    vision_tower: str,
    projector: str | Path,
    dtype: torch.dtype = torch.float32,
    local_files_only: bool = True,
    attn_implementation: str | None = None,
    vision_feature_layer: int = -2,
    pad_vocab_to_multiple_of: int = 64,
) -> tuple[LlavaForConditionalGeneration, LlavaProcessor]:
    """The LLaVA-1.5 stage-2 starting point: LM + CLIP tower + stage-1 projector.

    `<image>` is added to the LM's tokenizer as a special token (embedding rows padded to a
    multiple of `pad_vocab_to_multiple_of`, as llava-hf does); pad falls back to <unk> like
    LLaVA's vicuna_v1 recipe. Vision features come from the penultimate layer without CLS.
    """
    lm_kwargs: dict = {"dtype": dtype, "local_files_only": local_files_only}
    if attn_implementation:
        lm_kwargs["attn_implementation"] = attn_implementation
    lm = AutoModelForCausalLM.from_pretrained(language_model, **lm_kwargs)
    tokenizer = load_lm_tokenizer(language_model, local_files_only)
    lm.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=pad_vocab_to_multiple_of)

    with _quiet_transformers():  # a whole CLIP checkpoint: its text tower is unused, as expected
        vision = CLIPVisionModel.from_pretrained(
            vision_tower, dtype=dtype, local_files_only=local_files_only
        )
    image_processor = load_image_processor(vision_tower, local_files_only)
    processor = make_processor(image_processor, tokenizer, vision.config.patch_size)

    config = LlavaConfig(
        vision_config=vision.config,
        text_config=lm.config,
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        image_seq_length=num_image_tokens(processor),
        projector_hidden_act="gelu",
        vision_feature_layer=vision_feature_layer,
        vision_feature_select_strategy="default",
        tie_word_embeddings=bool(getattr(lm.config, "tie_word_embeddings", False)),
    )
    # Built on the meta device, then the real parts are moved in: no 7B random init.
    with torch.device("meta"):
        model = LlavaForConditionalGeneration(config)
    model.model.language_model = lm.model
    model.lm_head = lm.lm_head
    model.model.vision_tower = vision
    model.model.multi_modal_projector = _load_projector(config, projector, dtype)
    _check_materialized(model)
    model.config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, processor


def _load_projector(config: LlavaConfig, path: str | Path, dtype: torch.dtype) -> torch.nn.Module:
    weights = load_projector_weights(path)
    projector = LlavaMultiModalProjector(config)
    expected = {k: tuple(v.shape) for k, v in projector.state_dict().items()}
    for key, shape in expected.items():
        if tuple(weights[key].shape) != shape:
            raise ModelSourceError(
                f"{path}: projector {key} has shape {tuple(weights[key].shape)}, but the vision "
                f"tower and language model need {shape}"
            )
    projector.load_state_dict(weights)
    return projector.to(dtype)


def _check_materialized(model: torch.nn.Module) -> None:
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        if tensor.is_meta:
            raise RuntimeError(f"assembled LLaVA has an uninitialised tensor {name}")


# --- (c) tiny model built from config ----------------------------------------------------------


def build_tiny_llava(
    texts: Iterable[str],
    cfg: TinyModelConfig | None = None,
    seed: int = 0,
) -> tuple[LlavaForConditionalGeneration, LlavaProcessor]:
    """A tiny LLaVA for offline CPU runs, deterministic for (texts, cfg, seed).

    `texts`: the pool's conversation texts, for the tokenizer
    (e.g. `training.tokenizer.record_texts(records)`).
    Shapes follow CLIP (vision) + Llama (text) so every code path is the 7B one.
    """
    cfg = cfg or TinyModelConfig()
    tokenizer = train_bpe_tokenizer(texts, cfg.vocab_size)
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": cfg.image_size},
        crop_size={"height": cfg.image_size, "width": cfg.image_size},
    )
    processor = make_processor(image_processor, tokenizer, cfg.patch_size)
    vision_config = CLIPVisionConfig(
        image_size=cfg.image_size,
        patch_size=cfg.patch_size,
        hidden_size=cfg.vision_hidden_size,
        intermediate_size=cfg.vision_intermediate_size,
        num_hidden_layers=cfg.vision_layers,
        num_attention_heads=cfg.vision_heads,
        projection_dim=cfg.vision_hidden_size,
    )
    text_config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_heads,
        max_position_embeddings=cfg.max_position_embeddings,
        initializer_range=cfg.initializer_range,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    config = LlavaConfig(
        vision_config=vision_config,
        text_config=text_config,
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        image_seq_length=num_image_tokens(processor),
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
    )
    with _seeded(seed):
        model = LlavaForConditionalGeneration(config)
    model.config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    return model, processor


# --- dispatch --------------------------------------------------------------------------------


def build_model(
    cfg: ModelConfig,
    texts: Iterable[str] = (),
    seed: int = 0,
) -> tuple[LlavaForConditionalGeneration, LlavaProcessor]:
    """The model and processor that `cfg` names; `texts` only matter for kind=tiny."""
    dtype = DTYPES[cfg.dtype]
    if cfg.kind == "hf":
        _require(cfg.name_or_path, "model.name_or_path")
        return load_hf_llava(cfg.name_or_path, dtype, cfg.local_files_only, cfg.attn_implementation)
    if cfg.kind == "assemble":
        parts = foundation_parts(cfg)
        for key in ("language_model", "vision_tower", "projector"):
            _require(parts[key], f"model.{key}")
        return assemble_llava15(
            parts["language_model"],
            parts["vision_tower"],
            parts["projector"],
            dtype,
            cfg.local_files_only,
            cfg.attn_implementation,
        )
    model, processor = build_tiny_llava(texts, cfg.tiny, seed)
    return model.to(dtype), processor


FOUNDATION_PARTS = {
    "language_model": "language_model",
    "vision_tower": "clip",
    "projector": "projector.safetensors",
}


def foundation_parts(cfg: ModelConfig) -> dict[str, str]:
    """model.language_model / vision_tower / projector, the empty ones taken from
    model.foundation (a directory written by `vlmdata toyworld pretrain`)."""
    parts = {key: getattr(cfg, key) for key in FOUNDATION_PARTS}
    if cfg.foundation == FOUNDATION_OF_WORLD:
        raise ModelSourceError(
            f"model.foundation={FOUNDATION_OF_WORLD} names the run's own ToyWorld foundation, "
            "which `vlmdata run`, `sweep` and `curate` make; here give its directory "
            "(`vlmdata toyworld pretrain` prints it)"
        )
    if cfg.foundation:
        root = Path(cfg.foundation)
        if not (root / "foundation.json").is_file():
            raise InputNotFoundError(
                f"model.foundation={cfg.foundation}: not a finished foundation directory "
                "(no foundation.json; build one with `vlmdata toyworld pretrain`)"
            )
        for key, name in FOUNDATION_PARTS.items():
            parts[key] = parts[key] or str(root / name)
    return parts


def _require(value: str, key: str) -> None:
    if not value:
        raise ModelSourceError(f"config key '{key}' is required for this model kind")


def _ensure_pad_token(tokenizer: PreTrainedTokenizerBase) -> None:
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.unk_token or tokenizer.eos_token


@contextlib.contextmanager
def _quiet_transformers():
    from transformers.utils import logging

    level = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(level)


@contextlib.contextmanager
def _seeded(seed: int):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
