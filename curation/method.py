"""What every curation method implements, and what it is given."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from configs.errors import UserError


class BudgetError(UserError, ValueError):
    """A budget that cannot be met for this pool."""


@dataclass(frozen=True)
class CurationContext:
    """The pool a method selects from, plus where it may cache per-pool work."""

    pool_path: Path
    image_root: Path | None
    records: Sequence[Mapping[str, Any]]  # valid pool records, in pool order
    pool_sha256: str
    cache_dir: Path  # shared by all runs on this pool: features, clusterings, entities
    run_dir: Path  # this run's own scratch space (e.g. synthetic images)
    seed: int
    progress: bool = True

    def __len__(self) -> int:
        return len(self.records)


@dataclass
class Selection:
    indices: np.ndarray  # int64 positions into the pool, in selection order
    synthetic_records: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # provenance for the manifest


class CurationMethod:
    """Base class: a method is constructed from its Params and selects from a context.

    Subclasses set `name`, `Params` (a dataclass of their parameters) and implement `select`.
    `budget` is the resolved target size, or None when the method decides its own size.
    A method that reads a reference LVLM says so with a mixin (curation.features.reference:
    UsesReference; reference_pass.ReadsReferencePass when it reads the shared forward pass).
    """

    name: ClassVar[str]
    Params: ClassVar[type]
    needs_budget: ClassVar[bool] = True
    # set by a method that decides its own size: why it takes no budget (a given one is an error)
    sizes_itself: ClassVar[str | None] = None
    # set by a method that is a control of the comparison rather than a compared method
    # (curation.config.CONTROLS): every run of it is marked so
    control: ClassVar[str] = ""

    def __init__(self, params: Any):
        self.params = params

    def select(self, ctx: CurationContext, budget: int | None) -> Selection:
        raise NotImplementedError(f"{type(self).__name__} must implement select()")


def refuse_ignored_budget(method: CurationMethod, budget: float | None) -> None:
    """A budget given to a method that would not use it is an error, not a silent no-op."""
    if budget is not None and method.sizes_itself:
        raise BudgetError(
            f"method={method.name} takes no budget ({method.sizes_itself}): set budget=null"
        )


def resolve_budget(budget: float | None, pool_size: int, needs_budget: bool) -> int | None:
    """A fraction in (0, 1] -> int(fraction * N) (COINCIDE's rule); a number > 1 -> that count."""
    if budget is None:
        if needs_budget:
            raise BudgetError("this method needs a budget: set budget=<fraction or count>")
        return None
    if budget <= 0:
        raise BudgetError(f"budget must be > 0, got {budget:g}")
    if budget <= 1:
        return int(budget * pool_size)
    if budget != int(budget):
        raise BudgetError(f"a budget above 1 is a sample count and must be whole, got {budget:g}")
    if budget > pool_size:
        raise BudgetError(f"budget of {int(budget)} samples exceeds the pool of {pool_size}")
    return int(budget)


def params_dict(params: Any) -> dict[str, Any]:
    return dataclasses.asdict(params) if dataclasses.is_dataclass(params) else dict(params)
