"""The curation methods, by name. Explicit: a new method adds one line here."""

from __future__ import annotations

from curation.method import CurationMethod
from curation.methods.random import RandomSelection

METHODS: dict[str, type[CurationMethod]] = {
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
