"""Batches and optimizer steps of a run (importable without torch or Lightning: the plan
reads them to give every subset the full pool's step count under the `steps` protocol)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from configs.compose import ConfigError
from training.config import TrainingConfig


@dataclass(frozen=True)
class BatchPlan:
    world_size: int
    accumulate: int
    batches_per_epoch: int  # per device
    steps_per_epoch: int
    total_steps: int


def gradient_accumulation(cfg: TrainingConfig) -> int:
    """global batch = devices x nodes x per-device batch x accumulation; ConfigError otherwise."""
    per_step = cfg.trainer.devices * cfg.trainer.num_nodes * cfg.loader.per_device_batch_size
    if per_step <= 0 or cfg.trainer.global_batch_size % per_step:
        raise ConfigError(
            f"config key 'trainer.global_batch_size' ({cfg.trainer.global_batch_size}) must be a "
            f"multiple of devices x num_nodes x loader.per_device_batch_size ({per_step})"
        )
    return cfg.trainer.global_batch_size // per_step


def plan_batches(cfg: TrainingConfig, n_records: int) -> BatchPlan:
    """Accumulation, batches and optimizer steps of a run over `n_records` records."""
    world = cfg.trainer.devices * cfg.trainer.num_nodes
    accumulate = gradient_accumulation(cfg)
    batches = math.ceil(math.ceil(n_records / world) / cfg.loader.per_device_batch_size)
    steps_per_epoch = math.ceil(batches / accumulate)
    total = steps_per_epoch * cfg.trainer.epochs
    if cfg.trainer.max_steps > 0:  # as in HF Trainer: max_steps overrides epochs
        total = cfg.trainer.max_steps
    return BatchPlan(world, accumulate, batches, steps_per_epoch, total)
