"""The curation methods, by name. Explicit: a new method adds one line here.

Classes are imported when a method is asked for, so listing the methods (e.g. `vlmdata --help`)
does not load torch, transformers or diffusers.
"""

from __future__ import annotations

import importlib
from typing import Any

from configs.errors import UserError
from curation.method import CurationMethod

METHODS: dict[str, str] = {
    "full": "curation.methods.full:FullPool",
    "random": "curation.methods.random:RandomSelection",
    "coincide": "curation.methods.coincide.method:CoincideSelection",
    "adr_dr": "curation.methods.adr.rebalance:AdrRebalance",
    "adr": "curation.methods.adr.synthesis:Adr",
    "clip_score": "curation.methods.baselines.clip_score:ClipScoreSelection",
    "el2n": "curation.methods.baselines.el2n:El2nSelection",
    "perplexity": "curation.methods.baselines.perplexity:PerplexitySelection",
    "semdedup": "curation.methods.baselines.semdedup:SemDedupSelection",
    "d2_pruning": "curation.methods.baselines.d2_pruning:D2Selection",
    "self_sup": "curation.methods.baselines.self_sup:SelfSupSelection",
    "self_filter": "curation.methods.baselines.self_filter:SelfFilterSelection",
    "oracle": "curation.methods.oracle.method:OracleSelection",
}


class UnknownMethodError(UserError, ValueError):
    pass


def get_method(name: str) -> type[CurationMethod]:
    try:
        module, cls = METHODS[name].split(":")
    except KeyError:
        raise UnknownMethodError(
            f"unknown curation method '{name}'; available: {', '.join(sorted(METHODS))}"
        ) from None
    return getattr(importlib.import_module(module), cls)


def build_method(name: str, params: Any, key: str = "curation.params") -> CurationMethod:
    """The method `name` with `params` (a mapping or config node) checked against its Params;
    a wrong key or type is a one-line ConfigError naming `key`.<field>."""
    from configs.compose import compose_node

    method_cls = get_method(name)
    return method_cls(compose_node(method_cls.Params, params, key))
