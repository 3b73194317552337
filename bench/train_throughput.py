"""Benchmark: tokens/s and peak memory of the LLaVA training step.

    .venv/bin/python bench/train_throughput.py [--steps 20] [--batch 8 32] [--threads N]
                                              [--gpu-batch 4] [--gpu-method lora|full]

CPU: the tiny model (configs/training/tiny.yaml shapes) on a generated ToyWorld: the bare
step (forward + backward + AdamW, fp32 and bf16 autocast) per batch size, then the whole
Lightning loop (`training.train.train`: data loading, logging, checkpoint-free) in steps/s.
GPU (when CUDA is available): a LLaVA-1.5-7B-shaped model (Vicuna-7B + CLIP-L/336, random
weights, bf16, gradient checkpointing) at 576 image + 128 text tokens per sample, LoRA
(COINCIDE) or full; otherwise it says so and skips. Peak memory is the process's peak RSS
(CPU) or torch.cuda.max_memory_allocated (GPU).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import torch

from configs.compose import compose, config_path, to_object
from curation.data.records import load_records
from training.config import LoraConfig, TrainingConfig
from training.data import Collator, LlavaDataset
from training.finetune import prepare_model
from training.models import build_tiny_llava
from training.tokenizer import record_texts
from training.train import train


def make_world(root: Path, pool_size: int = 400) -> Path:
    from toyworld.config import ToyWorldConfig
    from toyworld.make import make_world as make

    return make(
        ToyWorldConfig(
            out_dir=str(root / "world"), seed=0, pool_size=pool_size, benchmark_items_per_skill=2
        ),
        progress=False,
    )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_steps(
    model: torch.nn.Module,
    batch: dict,
    steps: int,
    autocast: torch.dtype | None,
    device: str = "cpu",
) -> tuple[float, float]:
    """Seconds per step (after 3 warm-up steps) and tokens per second."""
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    inputs = {k: batch[k].to(device) for k in ("input_ids", "attention_mask", "labels")}
    if "pixel_values" in batch:
        inputs["pixel_values"] = batch["pixel_values"].to(device, next(model.parameters()).dtype)
    tokens = int(batch["attention_mask"].sum())

    def step() -> None:
        with torch.autocast(device, dtype=autocast, enabled=autocast is not None):
            loss = model(**inputs, use_cache=False).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(3):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / steps
    return seconds, tokens / seconds


def cpu_bench(args: argparse.Namespace, root: Path) -> dict:
    world = make_world(root)
    records = load_records(world / "pool.json").records
    model, processor = build_tiny_llava(record_texts(records), seed=0)
    model = prepare_model(model, "full", LoraConfig())
    dataset = LlavaDataset(records, world, processor, 512)
    collate = Collator(processor.tokenizer.pad_token_id)
    n_params = sum(p.numel() for p in model.parameters())
    rows = []
    for batch_size in args.batch:
        batch = collate([dataset[i] for i in range(batch_size)])
        for name, autocast in (("fp32", None), ("bf16-autocast", torch.bfloat16)):
            seconds, tps = time_steps(model, batch, args.steps, autocast)
            rows.append(
                {
                    "batch": batch_size,
                    "precision": name,
                    "ms_per_step": seconds * 1e3,
                    "tokens_per_s": tps,
                    "samples_per_s": batch_size / seconds,
                    "seq_len": int(batch["input_ids"].shape[1]),
                }
            )
    loop = loop_bench(args, root, world)
    return {"params": n_params, "step": rows, "loop": loop, "peak_rss_mb": peak_rss_mb()}


def loop_bench(args: argparse.Namespace, root: Path, world: Path) -> dict:
    cfg: TrainingConfig = to_object(
        compose(
            TrainingConfig,
            config_path("training", "tiny"),
            [
                f"records={world / 'pool.json'}",
                f"out_dir={root / 'run'}",
                "wandb.mode=disabled",
                "trainer.progress_bar=false",
                "trainer.global_batch_size=8",
                "loader.per_device_batch_size=8",
                f"trainer.max_steps={args.loop_steps}",
                "trainer.checkpoint_every_n_steps=100000",
                "export=false",
            ],
        )
    )
    start = time.perf_counter()
    result = train(cfg)
    total = time.perf_counter() - start
    summary = result.summary
    return {
        "steps": result.global_step,
        "batch": 8,
        "fit_seconds": summary["seconds"],
        "steps_per_s": summary["global_step"] / summary["seconds"],
        "tokens_per_s": summary["tokens_seen"] / summary["seconds"],
        "seconds_incl_setup": total,
        "loss_first": summary["loss_first"],
        "loss_last": summary["loss_last"],
    }


def gpu_bench(args: argparse.Namespace) -> dict:
    from transformers import (
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
    )

    config = LlavaConfig(
        vision_config=CLIPVisionConfig(
            hidden_size=1024,
            intermediate_size=4096,
            num_hidden_layers=24,
            num_attention_heads=16,
            image_size=336,
            patch_size=14,
            projection_dim=768,
        ),
        text_config=LlamaConfig(
            vocab_size=32064,
            hidden_size=4096,
            intermediate_size=11008,
            num_hidden_layers=32,
            num_attention_heads=32,
            max_position_embeddings=4096,
        ),
        image_token_index=32000,
        image_seq_length=576,
    )
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = LlavaForConditionalGeneration(config).to(torch.bfloat16)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model = prepare_model(model, args.gpu_method, LoraConfig())
    b, text = args.gpu_batch, 128
    ids = torch.randint(2, 32000, (b, 576 + text))
    ids[:, 1:577] = 32000
    batch = {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "labels": ids.clone(),
        "pixel_values": torch.randn(b, 3, 336, 336),
    }
    batch["labels"][:, :577] = -100
    torch.cuda.reset_peak_memory_stats()
    seconds, tps = time_steps(model, batch, args.steps, torch.bfloat16, device="cuda")
    return {
        "method": args.gpu_method,
        "batch": b,
        "seq_len": 576 + text,
        "ms_per_step": seconds * 1e3,
        "tokens_per_s": tps,
        "peak_memory_gb": torch.cuda.max_memory_allocated() / 2**30,
        "device": torch.cuda.get_device_name(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--loop-steps", type=int, default=100)
    parser.add_argument("--batch", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    parser.add_argument("--gpu-batch", type=int, default=4)
    parser.add_argument("--gpu-method", choices=("lora", "full"), default="lora")
    parser.add_argument("--out", type=Path, help="also write the report (JSON) here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    machine = {
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "torch": torch.__version__,
    }
    with tempfile.TemporaryDirectory() as tmp:
        report = {"machine": machine, "cpu": cpu_bench(args, Path(tmp))}
    if torch.cuda.is_available():
        report["gpu"] = gpu_bench(args)
    else:
        report["gpu"] = "skipped: no CUDA device (the 7B-shaped step needs a GPU)"
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
