"""EL2N (Paul et al., NeurIPS 2021), as applied to instruction data by Marion et al. (2023).

Score: mean over the record's ANSWER tokens of ||softmax(logits) - onehot(target)||_2 under the
reference LVLM (curation/features.py "answer_stats"; one cached pass shared with the other
model-based methods). Keep rule: a low / middle / high band of the ranking
(curation/scoring.py). Paul et al. keep the highest scores; for instruction data the middle
band is the usual winner (Marion et al.; COINCIDE's comparison), so middle is the default.
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
class El2nParams(ReferenceParams):
    band: str = choice("middle", BANDS)


class El2nSelection(ReferencePassMethod):
    name = "el2n"
    Params = El2nParams

    def select(self, ctx: CurationContext, budget: int | None) -> Selection:
        assert budget is not None
        features, reference = reference_features(self.params, ctx)
        scores = answer_stat(features, "el2n")
        chosen = select_band(scores, budget, self.params.band)
        details = {"score": "el2n", **band_details(scores, chosen, self.params.band),
                   **provenance(reference, features, "answer_stats")}
        return Selection(indices=chosen, details=details)
