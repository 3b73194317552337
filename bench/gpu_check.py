"""GPU check for a lent device (issue 19): three figures in one call of at most ~8 minutes.

    bash bench/gpu_check.sh                   # on the device: all three, appended to RESULTS.md
    .venv/bin/python bench/gpu_check.py --shape tiny --device cpu --no-record   # smoke test

1. feature pass: a TinyLLaVA-2B-shaped LLaVA (24 x 2048 Llama-shaped decoder, the StableLM-2-1.6B
   shape; CLIP-L/336 tower), random weights, bf16, forward with every hidden state returned, at
   576 image + 96 text tokens per sample: samples/s (the compute of COINCIDE's reference pass,
   not curation/features/extract.py's I/O).
2. training step: a LLaVA-1.5-7B-shaped model (Vicuna-7B + CLIP-L/336), random weights, bf16,
   gradient checkpointing, LoRA r 128 (COINCIDE's recipe), 576 + 128 tokens per sample: tokens/s
   and MFU = 4 N tokens/s / peak, N the decoder's parameters without embeddings (forward 2N +
   input gradients 2N per token; LoRA's weight gradients and the checkpointing recompute are not
   counted as useful work).
3. FSDP: the tiny ToyWorld model trained 6 steps through `training.train` with
   trainer.strategy=fsdp (Lightning's FSDPStrategy, the export gathered onto rank 0) and with
   strategy=auto, same seed and data: the two exports' logits on one batch (max abs difference).
   One GPU is one FSDP rank: this checks the strategy and the export path, not sharding across
   devices (the CPU test with two FSDP2 ranks does that: tests/training/test_strategy.py).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

# dense bf16 peak (TFLOP/s) by device name, from the vendors' data sheets (SXM parts)
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0}

STRATEGIES = ("auto", "fsdp")  # the reference run first

SHAPES = {
    # decoder (layers, hidden, intermediate, heads, vocab), tower (layers, hidden, image, patch)
    "paper": {
        "feature": ((24, 2048, 5632, 32, 100352), (24, 1024, 336, 14)),
        "train": ((32, 4096, 11008, 32, 32064), (24, 1024, 336, 14)),
        "batch": 16,
        "train_batch": 4,
    },
    "tiny": {
        "feature": ((2, 64, 128, 4, 512), (2, 32, 28, 14)),
        "train": ((2, 64, 128, 4, 512), (2, 32, 28, 14)),
        "batch": 2,
        "train_batch": 2,
    },
}


def llava(decoder: tuple, tower: tuple, device: str, dtype: torch.dtype):
    from transformers import (
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
    )

    layers, hidden, intermediate, heads, vocab = decoder
    t_layers, t_hidden, image, patch = tower
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(
            hidden_size=t_hidden,
            intermediate_size=4 * t_hidden,
            num_hidden_layers=t_layers,
            num_attention_heads=max(1, t_hidden // 64),
            image_size=image,
            patch_size=patch,
        ),
        text_config=LlamaConfig(
            vocab_size=vocab,
            hidden_size=hidden,
            intermediate_size=intermediate,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            max_position_embeddings=4096,
        ),
        image_token_index=vocab - 1,
        image_seq_length=(image // patch) ** 2,
    )
    torch.manual_seed(0)
    with torch.device(device):
        model = LlavaForConditionalGeneration(config).to(dtype)
    return model, config


def batch_for(config, batch: int, text: int, device: str, dtype: torch.dtype) -> dict:
    image_tokens = config.image_seq_length
    vocab = config.text_config.vocab_size
    ids = torch.randint(3, vocab - 1, (batch, 1 + image_tokens + text))
    ids[:, 1 : 1 + image_tokens] = config.image_token_index
    labels = ids.clone()
    labels[:, : 1 + image_tokens] = -100
    size = config.vision_config.image_size
    return {
        "input_ids": ids.to(device),
        "attention_mask": torch.ones_like(ids).to(device),
        "labels": labels.to(device),
        "pixel_values": torch.randn(batch, 3, size, size).to(device, dtype),
    }


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def feature_pass(shape: dict, device: str, repeats: int) -> dict:
    model, config = llava(*shape["feature"], device, torch.bfloat16)
    model.eval()
    batch = batch_for(config, shape["batch"], 96, device, torch.bfloat16)
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "pixel_values")}
    with torch.no_grad():
        model(**inputs, output_hidden_states=True)  # warm-up
        synchronize(device)
        start = time.perf_counter()
        for _ in range(repeats):
            model(**inputs, output_hidden_states=True)
        synchronize(device)
    seconds = (time.perf_counter() - start) / repeats
    params = sum(p.numel() for p in model.parameters())
    return {
        "params": params,
        "batch": shape["batch"],
        "seq_len": int(batch["input_ids"].shape[1]),
        "samples_per_s": shape["batch"] / seconds,
    }


def lora_step(shape: dict, device: str, steps: int, peak_tflops: float | None) -> dict:
    from train_throughput import time_steps  # bench/, beside this script

    from training.config import LoraConfig
    from training.finetune import prepare_model

    model, config = llava(*shape["train"], device, torch.bfloat16)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model = prepare_model(model, "lora", LoraConfig())
    batch = batch_for(config, shape["train_batch"], 128, device, torch.bfloat16)
    decoder = sum(
        p.numel()
        for n, p in model.named_parameters()
        if "language_model" in n and "embed_tokens" not in n and "lora_" not in n
    )
    # prepare_model keeps the trainable projector in fp32, as training does under autocast
    seconds, tokens_per_s = time_steps(model, batch, steps, torch.bfloat16, device)
    result = {
        "decoder_params": decoder,
        "batch": shape["train_batch"],
        "seq_len": int(batch["input_ids"].shape[1]),
        "ms_per_step": seconds * 1e3,
        "tokens_per_s": tokens_per_s,
    }
    if device == "cuda":
        result["peak_memory_gb"] = torch.cuda.max_memory_allocated() / 2**30
    if peak_tflops:
        result["mfu"] = 4 * decoder * tokens_per_s / (peak_tflops * 1e12)
    return result


def fsdp_export(root: Path, device: str) -> dict:
    from configs.compose import compose, config_path, to_object
    from toyworld.config import ToyWorldConfig
    from toyworld.make import make_world
    from training.config import TrainingConfig
    from training.train import train

    world = make_world(
        ToyWorldConfig(
            out_dir=str(root / "world"), seed=0, pool_size=96, benchmark_items_per_skill=2
        ),
        progress=False,
    )
    exports = {}
    for strategy in STRATEGIES:
        cfg: TrainingConfig = to_object(
            compose(
                TrainingConfig,
                config_path("training", "tiny"),
                [
                    "model.kind=tiny",
                    f"records={world / 'pool.json'}",
                    f"image_root={world}",
                    f"out_dir={root / strategy}",
                    f"trainer.accelerator={'gpu' if device == 'cuda' else 'cpu'}",
                    f"trainer.strategy={strategy}",
                    "trainer.max_steps=6",
                    "trainer.global_batch_size=8",
                    "loader.per_device_batch_size=8",
                    "trainer.progress_bar=false",
                    "wandb.mode=disabled",
                ],
            )
        )
        started = time.perf_counter()
        exports[strategy] = (train(cfg).export_dir, time.perf_counter() - started)
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    logits = {}
    for strategy, (folder, _) in exports.items():
        model = LlavaForConditionalGeneration.from_pretrained(folder).eval()
        processor = AutoProcessor.from_pretrained(folder)
        ids = processor.tokenizer(["USER: What colour is it? ASSISTANT:"], return_tensors="pt")
        with torch.no_grad():
            logits[strategy] = model(**ids).logits
    return {
        "max_abs_logit_difference": float((logits[STRATEGIES[1]] - logits["auto"]).abs().max()),
        "seconds": {k: round(v[1], 1) for k, v in exports.items()},
    }


def markdown(report: dict, command: str) -> str:
    lines = [
        f"\n### GPU check ({report['date']}, {report['device']})\n",
        f"`{command}` (bench/gpu_check.py; torch {report['torch']}).\n",
        "| figure | value |",
        "| --- | --- |",
    ]
    feature, step, fsdp = report["feature_pass"], report["lora_step"], report["fsdp"]
    lines.append(
        f"| feature pass, TinyLLaVA-2B shape, bf16, batch {feature['batch']} x "
        f"{feature['seq_len']} tokens | {feature['samples_per_s']:.1f} samples/s |"
    )
    mfu = f", MFU {100 * step['mfu']:.1f}%" if "mfu" in step else ""
    lines.append(
        f"| LoRA step, LLaVA-1.5-7B shape, bf16, batch {step['batch']} x {step['seq_len']} "
        f"tokens | {step['tokens_per_s']:.0f} tokens/s{mfu} |"
    )
    if isinstance(fsdp, dict):
        lines.append(
            "| FSDP (1 rank) vs auto, tiny model, 6 steps: exported logits, max abs difference "
            f"| {fsdp['max_abs_logit_difference']:.2e} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=tuple(SHAPES), default="paper")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--peak-tflops", type=float, help="dense bf16 peak; default by name")
    parser.add_argument("--out", type=Path, help="also write the report (JSON) here")
    parser.add_argument("--no-record", action="store_true", help="do not touch RESULTS.md")
    args = parser.parse_args()
    shape = SHAPES[args.shape]
    name = torch.cuda.get_device_name() if args.device == "cuda" else platform.processor()
    peak = args.peak_tflops or next(
        (v for k, v in PEAK_BF16_TFLOPS.items() if k in name and args.device == "cuda"), None
    )
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "device": name or args.device,
        "torch": torch.__version__,
        "shape": args.shape,
        "feature_pass": feature_pass(shape, args.device, args.steps),
        "lora_step": lora_step(shape, args.device, args.steps, peak),
    }
    with tempfile.TemporaryDirectory() as tmp:
        report["fsdp"] = (
            fsdp_export(Path(tmp), args.device)
            if args.device == "cuda"
            else "skipped: Lightning's FSDP strategy needs an accelerator"
        )
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    if not args.no_record:
        results = Path(__file__).with_name("RESULTS.md")
        command = "bash bench/gpu_check.sh"
        with results.open("a", encoding="utf-8") as handle:
            handle.write(markdown(report, command))


if __name__ == "__main__":
    main()
