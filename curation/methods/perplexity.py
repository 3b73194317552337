"""Perplexity-based pruning (Marion et al., "When Less is More", 2023).

Score: mean answer-token negative log-likelihood under the reference LVLM (the log of the
record's answer perplexity; same ranking as perplexity itself), from the shared cached pass
(curation/features.py "answer_stats"). Keep rule: a low / middle / high band of the ranking
(curation/scoring.py); middle, the usual winner for instruction data, is the default.
Records with no answer token left after truncation (NaN) are taken last.
"""

from __future__ import annotations

from dataclasses import dataclass

from configs.compose import choice
from curation.method import CurationContext, Selection
from curation.reference_pass import (
    ReferenceParams,
    ReferencePassMethod,
    answer_stat,
    provenance,
    reference_features,
)
from curation.scoring import BANDS, band_details, select_band


@dataclass
class PerplexityParams(ReferenceParams):
    band: str = choice("middle", BANDS)


class PerplexitySelection(ReferencePassMethod):
    name = "perplexity"
    Params = PerplexityParams

    def select(self, ctx: CurationContext, budget: int | None) -> Selection:
        assert budget is not None
        features, reference = reference_features(self.params, ctx)
        scores = answer_stat(features, "mean_nll")
        chosen = select_band(scores, budget, self.params.band)
        details = {"score": "mean answer-token NLL", **band_details(scores, chosen,
                                                                    self.params.band),
                   **provenance(reference, features, "answer_stats")}
        return Selection(indices=chosen, details=details)
