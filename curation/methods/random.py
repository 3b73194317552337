"""Uniform random selection, seeded; optionally size-matched to another subset."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from curation.data.subset import read_subset
from curation.method import BudgetError, CurationContext, CurationMethod, Selection


@dataclass
class RandomParams:
    # A finished subset directory: draw exactly as many samples as it holds (overrides budget).
    # The size-matched baseline every ADR-DR result needs.
    match: str = ""
    # A name mixed into the selection seed: another stream draws other subsets for the same
    # seed (the A/A arm, configs/curation/random_aa.yaml); "" draws from the seed alone.
    stream: str = ""


def selection_seed(seed: int, stream: str) -> int | np.random.SeedSequence:
    """The seed of the draw: `seed` itself for the main stream (so subsets drawn before
    streams existed are unchanged), else (seed, a hash of the stream's name)."""
    if not stream:
        return seed
    digest = hashlib.sha256(stream.encode("utf-8")).digest()
    return np.random.SeedSequence([seed, int.from_bytes(digest[:8], "little")])


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
        if self.params.stream:
            details["stream"] = self.params.stream
        assert budget is not None
        rng = np.random.default_rng(selection_seed(ctx.seed, self.params.stream))
        indices = rng.permutation(len(ctx))[:budget].astype(np.int64)
        return Selection(indices=indices, details=details)
