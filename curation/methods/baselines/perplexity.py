"""Perplexity-based pruning (Marion et al., "When Less is More", 2023).

Score: mean answer-token negative log-likelihood under the reference LVLM (the log of the
record's answer perplexity; same ranking as perplexity itself), from the shared cached pass
(curation/features/extract.py "answer_stats"). Keep rule: a low / middle / high band of the ranking
(curation/methods/baselines/scoring.py); middle, the usual winner for instruction data, is the
default.
Records with no answer token left after truncation (NaN) are taken last.
"""

from __future__ import annotations

from curation.methods.baselines.answer_band import AnswerStatBand, BandParams

PerplexityParams = BandParams


class PerplexitySelection(AnswerStatBand):
    name = "perplexity"
    column = "mean_nll"
    score_name = "mean answer-token NLL"
