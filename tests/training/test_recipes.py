"""Paper recipes as configs, batch arithmetic, optimizer groups, sampler, W&B environment."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from configs.compose import ConfigError, compose, config_path, to_object
from training.batches import plan_batches
from training.config import LoraConfig, OptimConfig, TrainingConfig
from training.finetune import prepare_model
from training.models import build_tiny_llava
from training.module import LlavaFinetune
from training.sampler import ResumableSampler
from training.wandb_env import wandb_env


def _recipe(name: str, *overrides: str) -> TrainingConfig:
    return to_object(compose(TrainingConfig, config_path("training", name), list(overrides)))


def test_llava15_full_recipe():
    cfg = _recipe("llava15_7b_full")
    assert (cfg.method, cfg.optim.lr, cfg.trainer.global_batch_size, cfg.trainer.epochs) == (
        "full",
        2e-5,
        128,
        1,
    )
    assert (cfg.optim.scheduler, cfg.optim.warmup_ratio, cfg.optim.weight_decay) == (
        "cosine",
        0.03,
        0.0,
    )
    assert cfg.trainer.precision.startswith("bf16") and cfg.model.kind == "assemble"


def test_coincide_lora_recipe():
    cfg = _recipe("llava15_7b_lora")
    assert (cfg.method, cfg.lora.r, cfg.lora.alpha, cfg.lora.dropout) == ("lora", 128, 256, 0.05)
    assert (cfg.optim.lr, cfg.optim.projector_lr, cfg.trainer.global_batch_size) == (
        2e-4,
        2e-5,
        128,
    )


def test_shipped_configs_name_their_command():
    for path in sorted(config_path("training", "tiny").parent.glob("*.yaml")):
        assert Path(path).read_text().startswith("# vlmdata train --config "), path


def test_gradient_accumulation_follows_the_global_batch():
    plan = plan_batches(
        _recipe("llava15_7b_full", "trainer.devices=2", "loader.per_device_batch_size=4"),
        n_records=1000,
    )
    assert plan.accumulate == 16 and plan.world_size == 2
    assert plan.batches_per_epoch == 125 and plan.steps_per_epoch == 8 and plan.total_steps == 8
    with pytest.raises(ConfigError, match="trainer.global_batch_size"):
        plan_batches(_recipe("llava15_7b_full", "trainer.devices=3"), n_records=1000)


def test_optimizer_groups_and_schedule():
    model, _ = build_tiny_llava(["a b c"] * 5)
    model = prepare_model(model, "lora", LoraConfig(r=4, alpha=8))
    module = LlavaFinetune(model, OptimConfig(lr=2e-4, projector_lr=2e-5, warmup_ratio=0.03), 100)
    setup = module.configure_optimizers()
    optimizer, scheduler = setup["optimizer"], setup["lr_scheduler"]["scheduler"]
    by_lr = {g["initial_lr"]: g["params"] for g in optimizer.param_groups}
    projector = {id(p) for p in model.base_model.model.model.multi_modal_projector.parameters()}
    assert {id(p) for p in by_lr[2e-5]} == projector
    assert len(by_lr[2e-4]) == sum(1 for n, _ in model.named_parameters() if ".lora_" in n)
    lrs = []
    for _ in range(100):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    peak = optimizer.param_groups[0]["initial_lr"]
    assert lrs[0] == 0.0 and max(lrs) == pytest.approx(peak)
    assert lrs.index(max(lrs)) == math.ceil(0.03 * 100)  # linear warmup, then cosine decay
    assert lrs[50] == pytest.approx(peak * 0.5 * (1 + math.cos(math.pi * 47 / 97)))
    assert lrs[-1] < 1e-3 * peak


def test_sampler_shards_and_resumes():
    ranks = [ResumableSampler(10, seed=1, rank=r, world_size=2) for r in range(2)]
    orders = [list(s) for s in ranks]
    assert sorted(orders[0] + orders[1]) == list(range(10))
    again = ResumableSampler(10, seed=1, rank=0, world_size=2)
    again.resume_at(0, 3)
    assert list(again) == orders[0][3:]
    assert list(again) == orders[0]  # the skip applies to one pass only
    again.set_epoch(1)
    assert list(again) != orders[0]
    assert len(ResumableSampler(11, seed=0, rank=1, world_size=2)) == 6


def test_wandb_env_keeps_everything_in_the_run_dir(tmp_path):
    environ: dict[str, str] = {}
    values = wandb_env(tmp_path / "run", environ=environ)
    assert environ == values and values["WANDB_MODE"] == "offline"
    for key in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR"):
        assert Path(values[key]).is_relative_to((tmp_path / "run").resolve()), key
        assert Path(values[key]).is_dir()
    with pytest.raises(ValueError, match="wandb mode"):
        wandb_env(tmp_path, mode="sometimes", environ={})
