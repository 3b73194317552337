"""`oracle`: a positive control that reads the world's ground truth (ToyWorld only).

Not a curation method anyone could run on real data: it keeps the subset whose (concept,
skill) coverage is most even, knowing exactly what each record shows and asks. Its gain over
random shows that the comparison can detect a real difference in the data, and how large one
is. See README.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curation.method import CurationContext, CurationMethod, Selection
from curation.methods.oracle.balance import balanced_selection
from curation.methods.oracle.ground_truth import NO_OBJECT, entities_path, record_cells


@dataclass
class OracleParams:
    # the world's entities.jsonl; "" = the one beside the pool (a ToyWorld's layout)
    entities: str = ""


class OracleSelection(CurationMethod):
    name = "oracle"
    Params = OracleParams
    control = "oracle"

    def select(self, ctx: CurationContext, budget: int | None) -> Selection:
        assert budget is not None
        cells_of = record_cells(ctx.records, ctx.pool_path, self.params.entities)
        indices, kept = balanced_selection(cells_of, budget, np.random.default_rng(ctx.seed))
        counts = np.array(list(kept.values()))
        return Selection(
            indices=indices,
            details={
                "ground_truth": str(entities_path(ctx.pool_path, self.params.entities)),
                "cells": len(kept),
                "cells_kept": int((counts > 0).sum()),
                "kept_per_cell": {
                    "min": int(counts.min()) if counts.size else 0,
                    "median": float(np.median(counts)) if counts.size else 0.0,
                    "max": int(counts.max()) if counts.size else 0,
                },
                "text_only_cells": sum(1 for concept, _ in kept if concept == NO_OBJECT),
            },
        )
