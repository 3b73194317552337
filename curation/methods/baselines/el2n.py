"""EL2N (Paul et al., NeurIPS 2021), as applied to instruction data by Marion et al. (2023).

Score: mean over the record's ANSWER tokens of ||softmax(logits) - onehot(target)||_2 under the
reference LVLM (curation/features/extract.py "answer_stats"; one cached pass shared with the other
model-based methods). Keep rule: a low / middle / high band of the ranking
(curation/methods/baselines/scoring.py). Paul et al. keep the highest scores; for instruction
data the middle band is the usual winner (Marion et al.; COINCIDE's comparison), so middle
is the default.
Records with no answer token left after truncation (NaN) are taken last.
"""

from __future__ import annotations

from curation.methods.baselines.answer_band import AnswerStatBand, BandParams

El2nParams = BandParams


class El2nSelection(AnswerStatBand):
    name = "el2n"
    column = "el2n"
    score_name = "el2n"
