"""A band of the ranking by one per-record answer statistic of the shared reference pass:
the keep rule EL2N and Perplexity share (they differ only in the column they rank by)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from configs.compose import choice
from curation.features.reference_pass import (
    ReferenceParams,
    ReferencePassMethod,
    answer_stat,
    provenance,
    reference_features,
)
from curation.method import CurationContext, Selection
from curation.methods.baselines.scoring import BANDS, band_details, select_band


@dataclass
class BandParams(ReferenceParams):
    band: str = choice("middle", BANDS)


class AnswerStatBand(ReferencePassMethod):
    """Subclasses set `column` (of features.ANSWER_STATS_COLUMNS) and `score_name`."""

    Params = BandParams
    column: ClassVar[str]
    score_name: ClassVar[str]

    def select(self, ctx: CurationContext, budget: int | None) -> Selection:
        assert budget is not None
        features, reference = reference_features(self.params, ctx)
        scores = answer_stat(features, self.column)
        chosen = select_band(scores, budget, self.params.band)
        details = {
            "score": self.score_name,
            **band_details(scores, chosen, self.params.band),
            **provenance(reference, features, "answer_stats"),
        }
        return Selection(indices=chosen, details=details)
