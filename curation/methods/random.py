"""Uniform random selection, seeded; optionally size-matched to another subset."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curation.data.subset import read_subset
from curation.method import BudgetError, CurationContext, CurationMethod, Selection


@dataclass
class RandomParams:
    # A finished subset directory: draw exactly as many samples as it holds (overrides budget).
    # The size-matched baseline every ADR-DR result needs.
    match: str = ""


class RandomSelection(CurationMethod):
    name = "random"
    Params = RandomParams

    @property
    def needs_budget(self) -> bool:  # type: ignore[override]
        return not self.params.match

    def select(self, ctx: CurationContext, budget: int | None) -> Selection:
        details = {}
        if self.params.match:
            matched = read_subset(self.params.match)
            budget = len(matched)
            details["matched_subset"] = str(matched.path)
            if budget > len(ctx):
                raise BudgetError(
                    f"match={matched.path} holds {budget} samples, more than the pool of {len(ctx)}"
                )
        assert budget is not None
        rng = np.random.default_rng(ctx.seed)
        indices = rng.permutation(len(ctx))[:budget].astype(np.int64)
        return Selection(indices=indices, details=details)
