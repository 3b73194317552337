"""The curation methods, by name. Explicit: a new method adds one line here."""

from __future__ import annotations

from curation.method import CurationMethod
from curation.methods.adr_rebalance import AdrRebalance
from curation.methods.adr_synthesis import Adr
from curation.methods.coincide import CoincideSelection
from curation.methods.full import FullPool
from curation.methods.random import RandomSelection

METHODS: dict[str, type[CurationMethod]] = {
    AdrRebalance.name: AdrRebalance,
    Adr.name: Adr,
    CoincideSelection.name: CoincideSelection,
    FullPool.name: FullPool,
    RandomSelection.name: RandomSelection,
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
