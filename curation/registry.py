"""The curation methods, by name. Explicit: a new method adds one line here."""

from __future__ import annotations

from curation.method import CurationMethod
from curation.methods.adr_rebalance import AdrRebalance
from curation.methods.adr_synthesis import Adr
from curation.methods.clip_score import ClipScoreSelection
from curation.methods.coincide import CoincideSelection
from curation.methods.d2_pruning import D2Selection
from curation.methods.el2n import El2nSelection
from curation.methods.full import FullPool
from curation.methods.perplexity import PerplexitySelection
from curation.methods.random import RandomSelection
from curation.methods.self_filter import SelfFilterSelection
from curation.methods.self_sup import SelfSupSelection
from curation.methods.semdedup import SemDedupSelection

METHODS: dict[str, type[CurationMethod]] = {
    AdrRebalance.name: AdrRebalance,
    Adr.name: Adr,
    CoincideSelection.name: CoincideSelection,
    FullPool.name: FullPool,
    RandomSelection.name: RandomSelection,
    ClipScoreSelection.name: ClipScoreSelection,
    El2nSelection.name: El2nSelection,
    PerplexitySelection.name: PerplexitySelection,
    SemDedupSelection.name: SemDedupSelection,
    D2Selection.name: D2Selection,
    SelfSupSelection.name: SelfSupSelection,
    SelfFilterSelection.name: SelfFilterSelection,
}


class UnknownMethodError(ValueError):
    pass


def get_method(name: str) -> type[CurationMethod]:
    try:
        return METHODS[name]
    except KeyError:
        raise UnknownMethodError(
            f"unknown curation method '{name}'; available: {', '.join(sorted(METHODS))}"
        ) from None
