"""Throughput and data counters for the loggers (tokens/s, samples/s, truncated, skipped), and
the full weights of a sharded model gathered for the export."""

from __future__ import annotations

import time
from typing import Any

import pytorch_lightning as pl
import torch

from training.strategy import gathered_model_state


class ThroughputMonitor(pl.Callback):
    """Logs tokens/s and samples/s (all ranks together) over each logging window of optimizer
    steps, plus the running counts of truncated and skipped records on this rank. Counts the
    batches this rank trained in this session (`batches`, for the run summary)."""

    def __init__(self) -> None:
        self.batches = 0
        self._start: float | None = None
        self._samples = 0
        self._tokens = 0
        self._last_step = -1

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._start is None:
            self._start = time.perf_counter()

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        self.batches += 1
        self._samples += int(batch["n_samples"])
        self._tokens += int(batch["n_tokens"])
        step = trainer.global_step
        if step == self._last_step or step % max(trainer.log_every_n_steps, 1) != 0:
            return
        self._last_step = step
        assert self._start is not None
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        world = trainer.world_size
        counters = getattr(pl_module, "counters", {})
        pl_module.log_dict(
            {
                "perf/tokens_per_s": self._tokens * world / elapsed,
                "perf/samples_per_s": self._samples * world / elapsed,
                "data/truncated": float(counters.get("truncated", 0)),
                "data/skipped": float(counters.get("skipped", 0)),
            },
            on_step=True,
            on_epoch=False,
            rank_zero_only=True,
        )
        self._start, self._samples, self._tokens = time.perf_counter(), 0, 0


class GatherShardedWeights(pl.Callback):
    """When training ends, and before the strategy tears down (DeepSpeed moves the model to the
    CPU there), the full weights of a sharded model onto rank 0: `state`, for the export
    (training.strategy.gathered_model_state; None when no rank holds a shard)."""

    def __init__(self) -> None:
        self.state: dict[str, torch.Tensor] | None = None

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.state = gathered_model_state(trainer)
