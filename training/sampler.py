"""A seeded, rank-sharded sample order that can resume in the middle of an epoch."""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class ResumableSampler(Sampler[int]):
    """Epoch `e` visits a permutation seeded by (seed, e), padded by wrapping to a multiple of
    `world_size` and dealt round-robin to ranks (as DistributedSampler does).

    `resume_at(epoch, samples_done)` makes the next pass over `epoch` start after the first
    `samples_done` samples of this rank's order, so a resumed run sees the data an
    uninterrupted run would have seen.
    """

    def __init__(
        self, n: int, seed: int, shuffle: bool = True, rank: int = 0, world_size: int = 1
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside a world of {world_size}")
        self.n, self.seed, self.shuffle = n, seed, shuffle
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self._resume: tuple[int, int] | None = None

    def __len__(self) -> int:
        return math.ceil(self.n / self.world_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def resume_at(self, epoch: int, samples_done: int) -> None:
        # Lightning may build the first iterator before it calls set_epoch
        self.epoch = epoch
        self._resume = (epoch, samples_done)

    def order(self, epoch: int) -> list[int]:
        """This rank's full order for `epoch`."""
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            indices = torch.randperm(self.n, generator=generator).tolist()
        else:
            indices = list(range(self.n))
        total = len(self) * self.world_size
        if self.n:
            indices += (indices * math.ceil(total / self.n))[: total - self.n]
        return indices[self.rank : total : self.world_size]

    def __iter__(self) -> Iterator[int]:
        order = self.order(self.epoch)
        if self._resume is not None and self._resume[0] == self.epoch:
            order = order[self._resume[1] :]
            self._resume = None
        return iter(order)
