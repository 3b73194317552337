"""The whole pool: the full-data reference every relative score is measured against."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curation.method import CurationContext, CurationMethod, Selection


@dataclass
class FullParams:
    pass


class FullPool(CurationMethod):
    name = "full"
    Params = FullParams
    needs_budget = False
    sizes_itself = "it keeps the whole pool"

    def select(self, ctx: CurationContext, budget: int | None) -> Selection:
        return Selection(indices=np.arange(len(ctx), dtype=np.int64))
