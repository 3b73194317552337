"""What every curation method implements, and what it is given."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

if TYPE_CHECKING:
    from curation.features.extract import FeaturePass
    from curation.features.reference import PassSpec


class BudgetError(ValueError):
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
    """

    name: ClassVar[str]
    Params: ClassVar[type]
    needs_budget: ClassVar[bool] = True

    def __init__(self, params: Any):
        self.params = params

    def select(self, ctx: CurationContext, budget: int | None) -> Selection:
        raise NotImplementedError(f"{type(self).__name__} must implement select()")

    def pass_spec(self) -> PassSpec | None:
        """The reference forward pass `select` reads, as configured (None: it reads none).
        The experiments' features stage computes it ahead of `select`, in shards."""
        return None

    def feature_pass(self, ctx: CurationContext) -> FeaturePass | None:
        """`pass_spec` resolved for this pool: may train and cache the tiny reference."""
        spec = self.pass_spec()
        return None if spec is None else spec.resolve(ctx)


def has_feature_pass(method: type[CurationMethod]) -> bool:
    return method.pass_spec is not CurationMethod.pass_spec


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
