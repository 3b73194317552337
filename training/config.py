"""Config schemas of the training stage (composed from configs/training/*.yaml + overrides)."""

from __future__ import annotations

from dataclasses import dataclass, field

from configs.compose import choice
from curation.data.limits import RecordLimits

FOUNDATION_OF_WORLD = "world"
LORA_TARGET_LANGUAGE_MODEL = (
    r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
)


@dataclass
class TinyModelConfig:
    """A tiny LLaVA (CLIP-shaped vision tower + Llama LM) built from scratch, for CPU runs."""

    vocab_size: int = 512  # upper bound for the byte-level BPE trained on the pool's texts
    hidden_size: int = 64
    intermediate_size: int = 256
    num_layers: int = 2
    num_heads: int = 4
    max_position_embeddings: int = 1024
    # std of the random init: 0.02 (Llama's) leaves a frozen lm_head too flat for LoRA to learn
    initializer_range: float = 0.2
    vision_hidden_size: int = 32
    vision_intermediate_size: int = 64
    vision_layers: int = 2
    vision_heads: int = 4
    image_size: int = 32
    patch_size: int = 8


@dataclass
class ModelConfig:
    # hf: an HF LLaVA checkpoint (name or dir); assemble: LLaVA-1.5 stage-2 start from
    # language model + CLIP vision tower + stage-1 projector; tiny: built from `tiny`
    kind: str = choice("tiny", ("tiny", "hf", "assemble"))
    name_or_path: str = ""  # kind=hf
    language_model: str = ""  # kind=assemble, e.g. lmsys/vicuna-7b-v1.5
    vision_tower: str = ""  # kind=assemble, e.g. openai/clip-vit-large-patch14-336
    projector: str = ""  # kind=assemble: mm_projector.bin or .safetensors (mlp2x_gelu)
    # kind=assemble: a directory of `vlmdata toyworld pretrain` (clip/, language_model/,
    # projector.safetensors) that fills the three keys above where they are empty; "world":
    # the run's own ToyWorld's, made by the plan's foundation job (vlmdata run/sweep/curate)
    foundation: str = ""
    dtype: str = choice("float32", ("float32", "bfloat16", "float16"))
    model_max_length: int = 2048
    gradient_checkpointing: bool = False
    attn_implementation: str | None = None  # e.g. sdpa, flash_attention_2; None: default
    local_files_only: bool = True  # never reach the hub at run time
    tiny: TinyModelConfig = field(default_factory=TinyModelConfig)


@dataclass
class LoraConfig:
    """COINCIDE's recipe: LoRA on the language model's linear layers only."""

    r: int = 128
    alpha: int = 256
    dropout: float = 0.05
    target_modules: str = LORA_TARGET_LANGUAGE_MODEL  # a regex over module names


@dataclass
class OptimConfig:
    lr: float = 2e-5
    projector_lr: float | None = None  # None: same as lr
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    warmup_ratio: float = 0.03
    scheduler: str = choice("cosine", ("cosine", "constant", "linear"))
    max_grad_norm: float = 1.0  # 0 disables clipping


@dataclass
class LoaderConfig:
    per_device_batch_size: int = 8
    num_workers: int = 0
    pin_memory: bool = False
    on_error: str = choice("raise", ("raise", "skip"))
    # llava: LLaVA-1.5's token stream and labels (pieces between <image>s tokenized apart; a
    # record LLaVA would train on with every label masked is skipped or refused, per on_error);
    # whole: the conversation tokenized in one call, as an HF processor does at inference
    # (training.encode says where the two differ)
    token_stream: str = choice("llava", ("llava", "whole"))
    verify_images: bool = True  # open every image once before training (catches bad files early)
    shuffle: bool = True
    # inside: image paths must be relative without '..' (a subset's own synthetic images
    # excepted); any: as given (absolute LLaVA layouts). See curation.data.records.RecordRules.
    image_paths: str = choice("inside", ("inside", "any"))
    limits: RecordLimits = field(default_factory=RecordLimits)  # caps on one record


@dataclass
class TrainerConfig:
    accelerator: str = "auto"  # cpu | gpu | auto
    devices: int = 1
    num_nodes: int = 1
    strategy: str = choice(
        "auto",
        (
            "auto",
            "ddp",
            "ddp_spawn",
            "fsdp",
            "deepspeed_stage_2",
            "deepspeed_stage_3",
            "deepspeed_stage_3_offload",
        ),
    )
    precision: str = "32-true"  # Lightning precision: 32-true | bf16-mixed | bf16-true | 16-mixed
    global_batch_size: int = 128
    epochs: int = 1
    max_steps: int = -1  # >0: train exactly this many steps (overrides epochs, as HF Trainer)
    log_every_n_steps: int = 10
    checkpoint_every_n_steps: int = 500
    keep_checkpoints: int = 1
    deterministic: bool = True
    progress_bar: bool = True


@dataclass
class WandbConfig:
    mode: str = choice("offline", ("offline", "online", "disabled"))
    project: str = "vlmdata"
    name: str = ""  # default: the run directory's name
    group: str = ""
    job_type: str = "train"
    tags: list[str] = field(default_factory=list)


@dataclass
class TrainingConfig:
    """One finetuning run: inputs, model, method, optimisation, trainer, logging, output."""

    # full / lora: stage 2 (vision tower frozen); projector: stage 1, only the projector trains
    method: str = choice("full", ("full", "lora", "projector"))
    out_dir: str = ""  # the run directory (required)
    subset: str = ""  # a subset directory (curation output), or:
    records: str = ""  # a LLaVA JSON/JSONL file
    image_root: str = ""  # default: the subset's pool folder (ToyWorld layout)
    seed: int = 0
    resume: bool = True  # continue from <out_dir>/checkpoints/last.ckpt when it exists
    export: bool = True  # write <out_dir>/hf (merged weights + processor) at the end
    export_dtype: str = choice("auto", ("auto", "float32", "bfloat16", "float16"))
    model: ModelConfig = field(default_factory=ModelConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loader: LoaderConfig = field(default_factory=LoaderConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    wandb: WandbConfig = field(default_factory=WandbConfig)
