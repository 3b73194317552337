"""ADR Data Rebalancing (README.md here; the reference's compose_alpha mode).

p_k(e) = tau_k / n_e. A sample passes perspective k if any of its entities (token: any
mention) passes an independent Bernoulli(min(1, p_k(e))) draw, so
    P_k(sample) = 1 - prod_e (1 - min(1, p_k(e)))^(mentions of e),
and a sample with no entity in k never passes k. Keep iff (#passing perspectives) > pass_num
and U < alpha. Vectorised: log(1 - P_k) is one sparse matrix-vector product per perspective.
A sample with no entity in any chosen perspective passes none, so it is dropped, as in the
reference (that is how the paper's DR keeps 581.7K of 665.3K); keep_empty=True keeps such
samples (text-only ones, mostly), with the same alpha.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from configs.compose import ConfigError
from configs.errors import UserError
from curation.data.longtail import q_for, tau_threshold
from curation.method import BudgetError, CurationContext, CurationMethod, Selection
from curation.methods.adr.entities.extract import (
    PERSPECTIVES,
    EntityConfig,
    EntitySource,
    entity_tables,
)
from curation.methods.adr.entities.table import EntityTable
from curation.methods.adr.longtail_report import paper_head_count


@dataclass
class RebalanceParams:
    perspectives: list[str] = field(default_factory=lambda: list(PERSPECTIVES))
    pass_num: int = 0  # keep when MORE than pass_num perspectives pass
    alpha: float = 1.0  # then keep with probability alpha
    keep_empty: bool = False  # True: keep samples without entities (the reference drops them)
    # Cumulative mass that defines tau_k (curation/methods/adr/README.md).
    q_token: float = 0.9
    q_object: float = 0.9
    q_co_occurrence: float = 0.75
    q_interrogation: float = 0.9
    # Fixed thresholds per perspective instead of computing them (e.g. the paper's
    # token: 120, object: 304, co_occurrence: 24, interrogation: 4895 on LLaVA-665K).
    tau: dict[str, int] = field(default_factory=dict)
    entities: EntityConfig = field(default_factory=EntityConfig)

    def q(self) -> dict[str, float]:
        return {p: getattr(self, f"q_{p}") for p in PERSPECTIVES}


class RebalanceError(ConfigError):
    """Rebalancing parameters that cannot be used."""


@dataclass
class RebalanceResult:
    kept: np.ndarray  # int64 sample positions, ascending
    pass_probability: np.ndarray  # (n_samples, n_perspectives) P_k per sample
    passed: np.ndarray  # (n_samples, n_perspectives) bool draws
    empty: np.ndarray  # (n_samples,) no entity in any chosen perspective
    taus: dict[str, int]

    def details(self, tables: Mapping[str, EntityTable], params: RebalanceParams) -> dict[str, Any]:
        per = {}
        for k, (name, table) in enumerate(tables.items()):
            counts = table.counts
            tail = counts < self.taus[name]
            q = None if name in params.tau else params.q()[name]
            per[name] = {
                "tau": self.taus[name],
                "q": params.q()[name],
                "entities": int(counts.size),
                # the reference's figure (index of the tau entity), then ours (n_e >= tau)
                "head_entities_paper": paper_head_count(counts, q, self.taus[name]),
                "head_entities_ge_tau": int((~tail).sum()),
                "samples_with_entities": int(table.has_entities.sum()),
                "samples_passed": int(self.passed[:, k].sum()),
                "tail_share_before": _tail_share(table, tail),
                "tail_share_after": _tail_share(table.rows(self.kept), tail),
            }
        return {
            "kept": int(self.kept.size),
            "dropped": int(self.empty.size - self.kept.size),
            "empty_samples": int(self.empty.sum()),
            "empty_kept": int(self.empty[self.kept].sum()),
            "pass_num": params.pass_num,
            "alpha": params.alpha,
            "keep_empty": params.keep_empty,
            "perspectives": per,
        }


def _tail_share(table: EntityTable, tail: np.ndarray) -> float:
    mass = table.counts
    total = int(mass.sum())
    return float(mass[tail].sum() / total) if total else 0.0


def pass_probability(table: EntityTable, tau: float) -> np.ndarray:
    """P_k per sample: 1 - prod over its entity mentions of (1 - min(1, tau / n_e))."""
    counts = table.counts.astype(np.float64)
    p = np.divide(tau, counts, out=np.zeros_like(counts), where=counts > 0)
    certain = p >= 1.0
    log_fail = np.log1p(-np.where(certain, 0.0, p))
    has_certain = (table.matrix @ certain.astype(np.float64)) > 0
    probability = -np.expm1(table.matrix @ log_fail)
    probability[has_certain] = 1.0
    return probability


def thresholds(tables: Mapping[str, EntityTable], params: RebalanceParams) -> dict[str, int]:
    taus = {}
    for name, table in tables.items():
        if name in params.tau:
            taus[name] = int(params.tau[name])
        else:
            taus[name] = int(tau_threshold(table.count_dict(), q_for(name, params.q())))
    return taus


def rebalance(
    tables: Mapping[str, EntityTable], params: RebalanceParams, seed: int, budget: int | None = None
) -> RebalanceResult:
    """Draw the DR subset; the draws depend only on (seed, n_samples, n_perspectives).

    With a budget, alpha is the one that keeps exactly `budget` samples: the samples that pass
    the rule are kept in the order of their uniform draw U (the same U that `U < alpha` tests).
    """
    check_params(params, list(tables))
    sizes = {table.n_samples for table in tables.values()}
    if len(sizes) != 1:
        raise RebalanceError(f"entity tables disagree on the number of samples: {sorted(sizes)}")
    n = sizes.pop()
    taus = thresholds(tables, params)
    probability = np.column_stack([pass_probability(t, taus[k]) for k, t in tables.items()])
    rng = np.random.default_rng(seed)
    passed = rng.random((n, len(tables))) < probability
    draw = rng.random(n)
    empty = ~np.any(np.column_stack([t.has_entities for t in tables.values()]), axis=1)
    eligible = passed.sum(axis=1) > params.pass_num
    if params.keep_empty:
        eligible |= empty
    if budget is None:
        kept = np.flatnonzero(eligible & (draw < params.alpha))
    else:
        candidates = np.flatnonzero(eligible)
        if candidates.size < budget:
            raise BudgetError(
                f"the DR rule passes {candidates.size} samples, fewer than the "
                f"budget of {budget}; lower the budget or set budget=null"
            )
        kept = np.sort(candidates[np.argsort(draw[candidates], kind="stable")[:budget]])
    return RebalanceResult(kept.astype(np.int64), probability, passed, empty, taus)


def check_params(params: RebalanceParams, perspectives: Sequence[str]) -> None:
    if not perspectives:
        raise RebalanceError(
            f"params.perspectives is empty: choose some of {', '.join(PERSPECTIVES)}"
        )
    unknown = [p for p in list(perspectives) + list(params.tau) if p not in PERSPECTIVES]
    if unknown:
        raise RebalanceError(
            f"unknown perspective(s) {', '.join(unknown)}; choose from {', '.join(PERSPECTIVES)}"
        )
    if len(set(perspectives)) != len(perspectives):
        raise RebalanceError(f"params.perspectives lists a perspective twice: {list(perspectives)}")
    if not 0.0 <= params.alpha <= 1.0:
        raise RebalanceError(f"params.alpha must lie in [0, 1], got {params.alpha}")
    if not 0 <= params.pass_num < len(perspectives):
        raise RebalanceError(
            f"params.pass_num must lie in 0..{len(perspectives) - 1} (keep "
            f"needs MORE than pass_num passing perspectives), got "
            f"{params.pass_num}"
        )


class MultiImageRecordError(UserError, ValueError):
    """A multi-image record given to ADR, whose entities and image variations read one image."""


def refuse_multi_image(records: Sequence[Mapping[str, Any]]) -> None:
    for number, record in enumerate(records):
        if isinstance(record.get("image"), list):
            raise MultiImageRecordError(
                f"record {number} (id={record.get('id')!r}) has {len(record['image'])} images: "
                "ADR reads one image per record (entities, image variations): remove the "
                "pool's multi-image records, or choose another method"
            )


class AdrRebalance(CurationMethod):
    """ADR's Data Rebalancing: the subset size follows from the rule (budget=null), or a
    budget fixes it through alpha (comparisons at a fixed data volume)."""

    name = "adr_dr"
    Params = RebalanceParams
    needs_budget = False

    def select(self, ctx: CurationContext, budget: int | None) -> Selection:
        selection, _ = self.rebalance(ctx, budget)
        return selection

    def rebalance(
        self, ctx: CurationContext, budget: int | None = None
    ) -> tuple[Selection, dict[str, EntityTable]]:
        params: RebalanceParams = self.params
        check_params(params, params.perspectives)
        refuse_multi_image(ctx.records)
        tables = entity_tables(EntitySource.of(ctx), params.entities, params.perspectives)
        result = rebalance(tables, params, ctx.seed, budget)
        details = {"rebalance": result.details(tables, params)}
        return Selection(indices=result.kept, details=details), tables
