"""The optimiser of the stage-0 loops: AdamW under a one-cycle schedule (5% warm-up)."""

from __future__ import annotations

from collections.abc import Iterable

import torch


def one_cycle_adamw(
    parameters: Iterable[torch.nn.Parameter], lr: float, steps: int, weight_decay: float = 0.0
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    optimiser = torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=lr, total_steps=steps, pct_start=0.05
    )
    return optimiser, schedule
