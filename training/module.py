"""LightningModule around transformers' LlavaForConditionalGeneration (full or LoRA finetune).

Optimisation follows the LLaVA-1.5 / COINCIDE recipes: AdamW, linear warmup then cosine
decay per optimizer step, gradient clipping, and a separate projector learning rate (LoRA).
Checkpoints hold the trainable weights only (the frozen ones come back from the model source),
plus the data position and RNG states, so a resumed run continues where it stopped.
"""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from transformers import (
    get_constant_schedule_with_warmup,
    get_cosine_schedule_with_warmup,
    get_linear_schedule_with_warmup,
)

from training.config import OptimConfig
from training.finetune import is_projector

SCHEDULES = {
    "cosine": get_cosine_schedule_with_warmup,
    "linear": get_linear_schedule_with_warmup,
}


class LlavaFinetune(pl.LightningModule):
    def __init__(self, model: torch.nn.Module, optim: OptimConfig, total_steps: int) -> None:
        super().__init__()
        self.model = model
        self.optim = optim
        self.total_steps = total_steps
        self.strict_loading = False  # checkpoints hold only the trainable weights
        self._batches_in_epoch = 0
        self._rng_to_restore: dict[str, Any] | None = None
        self.resumed_at_step: int | None = None
        self.counters = {"samples": 0, "tokens": 0, "truncated": 0, "skipped": 0}
        self.step_losses: list[float] = []  # mean micro-batch loss of each optimizer step
        self._micro_losses: list[float] = []

    # --- steps -------------------------------------------------------------------------------

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        kwargs = {k: batch[k] for k in ("input_ids", "attention_mask", "labels")}
        if "pixel_values" in batch:
            kwargs["pixel_values"] = batch["pixel_values"].to(self._param_dtype())
        return self.model(**kwargs, use_cache=False).loss

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        self._batches_in_epoch += 1
        for key in self.counters:
            self.counters[key] += int(batch[f"n_{key}"])
        if batch["n_samples"] == 0:  # every record of the batch was skipped
            loss = self._zero_through(p for p in self.parameters() if p.requires_grad)
        else:
            loss = self(batch)
            if "pixel_values" not in batch:
                # keep the projector in the graph so DDP sees a gradient for every parameter
                loss = loss + self._zero_through(
                    p for n, p in self.named_parameters() if p.requires_grad and is_projector(n)
                )
        self._micro_losses.append(float(loss.detach()))
        self.log(
            "train/loss",
            loss.detach(),
            on_step=True,
            prog_bar=True,
            batch_size=max(int(batch["n_samples"]), 1),
        )
        return loss

    def on_train_epoch_start(self) -> None:
        self._batches_in_epoch = 0

    def on_train_start(self) -> None:
        if self._rng_to_restore is not None:
            _set_rng_states(self._rng_to_restore)
            self._rng_to_restore = None

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        if self._micro_losses:
            self.step_losses.append(sum(self._micro_losses) / len(self._micro_losses))
            self._micro_losses = []
        grads = [p.grad.detach() for p in self.parameters() if p.grad is not None]
        if grads:
            norm = torch.linalg.vector_norm(
                torch.stack([torch.linalg.vector_norm(g.float()) for g in grads])
            )
            self.log("train/grad_norm", norm, on_step=True)
        self.log("train/lr", optimizer.param_groups[0]["lr"], on_step=True)

    # --- optimisation ------------------------------------------------------------------------

    def configure_optimizers(self) -> dict[str, Any]:
        cfg = self.optim
        projector_lr = cfg.projector_lr if cfg.projector_lr is not None else cfg.lr
        groups: dict[tuple[float, float], list[torch.nn.Parameter]] = {}
        for name, param in self.model.named_parameters():
            if not param.requires_grad:
                continue
            lr = projector_lr if is_projector(name) else cfg.lr
            decay = cfg.weight_decay if param.ndim >= 2 else 0.0  # no decay on biases and norms
            groups.setdefault((lr, decay), []).append(param)
        optimizer = torch.optim.AdamW(
            [{"params": ps, "lr": lr, "weight_decay": wd} for (lr, wd), ps in groups.items()],
            lr=cfg.lr,
            betas=(cfg.betas[0], cfg.betas[1]),
            eps=cfg.eps,
        )
        warmup = math.ceil(cfg.warmup_ratio * self.total_steps)
        if cfg.scheduler == "constant":
            scheduler = get_constant_schedule_with_warmup(optimizer, warmup)
        else:
            scheduler = SCHEDULES[cfg.scheduler](optimizer, warmup, self.total_steps)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1},
        }

    # --- checkpoints -------------------------------------------------------------------------

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        trainable = {f"model.{n}" for n, p in self.model.named_parameters() if p.requires_grad}
        checkpoint["state_dict"] = {
            k: v for k, v in checkpoint["state_dict"].items() if k in trainable
        }
        checkpoint["vlmdata"] = {
            "epoch": self.current_epoch,
            "batches_in_epoch": self._batches_in_epoch,
            "counters": dict(self.counters),
            "counters_per_rank": self._counters_per_rank(),
            "step_losses": list(self.step_losses),
            "rng": _get_rng_states(),
        }

    def _counters_per_rank(self) -> list[dict[str, int]]:
        """Every rank's counters (only rank 0 writes the checkpoint; each rank counted its own
        shard of the data). Every rank saves a checkpoint, so the gather is collective."""
        if self._trainer is None or self.trainer.world_size <= 1:
            return [dict(self.counters)]
        values = torch.tensor([self.counters[k] for k in self.counters], dtype=torch.float64)
        gathered = self.trainer.strategy.all_gather(values.to(self.device)).cpu()
        return [
            {k: int(v) for k, v in zip(self.counters, row.tolist(), strict=True)}
            for row in gathered.reshape(-1, len(self.counters))
        ]

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("vlmdata")
        if state is None:
            return
        self._batches_in_epoch = int(state["batches_in_epoch"])
        self.resumed_at_step = int(checkpoint.get("global_step", 0))
        per_rank = state.get("counters_per_rank") or []
        world = self.trainer.world_size if self._trainer else 1
        rank = self.global_rank
        self.counters.update(per_rank[rank] if len(per_rank) == world else state["counters"])
        self.step_losses = [float(x) for x in state.get("step_losses", [])]
        self._rng_to_restore = state["rng"]
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer else None
        if datamodule is not None and hasattr(datamodule, "resume_at"):
            datamodule.resume_at(int(state["epoch"]), self._batches_in_epoch)

    def reduced_counters(self, trainer: pl.Trainer) -> dict[str, int]:
        """The data counters summed over all ranks."""
        values = torch.tensor([self.counters[k] for k in self.counters], dtype=torch.float64)
        if trainer.world_size > 1:
            values = trainer.strategy.reduce(values.to(self.device), reduce_op="sum").cpu()
        return {k: int(v) for k, v in zip(self.counters, values.tolist(), strict=True)}

    # --- helpers -----------------------------------------------------------------------------

    def _param_dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @staticmethod
    def _zero_through(params: Any) -> torch.Tensor:
        return torch.stack([p.sum() for p in params]).sum() * 0.0


# RNG states as tensors and plain lists, so checkpoints load with torch.load(weights_only=True)
def _get_rng_states() -> dict[str, Any]:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [
            kind,
            torch.from_numpy(keys.astype(np.int64)),
            int(pos),
            int(has_gauss),
            float(gauss),
        ],
        "python": [version, list(internal), gauss_next],
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    kind, keys, pos, has_gauss, gauss = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = states["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
