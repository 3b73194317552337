"""A sweep's arms compared pairwise: Δ vs random at the same budget and Δ vs the full-data
reference, each a paired bootstrap over seeds and items (evaluation/statistics.py).

An arm is (method, budget, control): control "" for a compared method, "aa" for the A/A arm (a
second random arm with other selection seeds) and "oracle" for the ToyWorld ground-truth
positive control. The random baseline of a budget is the arm ("random", budget, ""). Arms are
paired by seed; seeds that one side lacks are left out and named in the comparison's note.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from configs.errors import UserError
from evaluation.statistics import (
    Comparison,
    Difference,
    TaskItems,
    load_items,
    paired_difference,
    paired_relative,
)

BASELINE = "random"
AA, ORACLE = "aa", "oracle"
CONTROL_TAGS = {"": "", AA: " (A/A)", ORACLE: " (ground truth)"}
RESAMPLES = 2000
BOOTSTRAP_SEED = 0

ArmKey = tuple[str, float | None, str]  # method, budget (None: the method sizes itself), control
SeedItems = dict[Any, dict[str, TaskItems]]  # seed -> task -> items


@dataclass(frozen=True)
class Versus:
    """One arm against one baseline arm: the comparison on the seeds both have, or why none."""

    baseline: str
    comparison: Comparison | None
    seeds: tuple = ()
    note: str = ""  # what was left out, or why there is no comparison


def no_arm(label: str) -> str:
    return f"no {label} arm"


def arm_key(run: Mapping[str, Any]) -> ArmKey:
    return run["method"], run["budget"], run.get("control", "")


def arm_name(method: str, budget: float | None, control: str = "") -> str:
    tag = CONTROL_TAGS.get(control, f" ({control})")
    if control == ORACLE and "oracle" not in method:
        tag = " (oracle, ground truth)"
    return method + tag + ("" if budget is None else f" @{budget:g}")


@dataclass(frozen=True)
class ArmComparisons:
    random: Versus | None  # None: the arm is the random baseline, or has no budget
    full: Versus | None  # None: the arm is the reference, or the sweep has none
    relative: Difference | None  # relative performance vs full (%), relative_to_full


def compare_arms(
    plan: Mapping[str, Any],
    runs: Sequence[Mapping[str, Any]],
    resamples: int = RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> dict[ArmKey, ArmComparisons]:
    """Every arm with a scored run against random at its budget and against the reference;
    a baseline is never compared with itself."""
    items, missing = _arm_items(runs)
    reference = plan["sweep"].get("reference", "")
    scored = dict.fromkeys(arm_key(r) for r in runs if r.get("scores") is not None)
    reference_arm = next((a for a in scored if a[0] == reference and a[2] == ""), None)
    found = {}
    for arm in scored:
        random_arm = (BASELINE, arm[1], "")
        versus_random = versus_full = relative = None
        if arm[1] is not None and arm != random_arm:
            versus_random = _versus(arm, random_arm, items, missing, BASELINE, resamples, seed)
        if reference and arm != reference_arm:
            versus_full = _versus(arm, reference_arm, items, missing, reference, resamples, seed)
            if arm in items and reference_arm in items:
                relative = relative_to_full(items[arm], items[reference_arm], resamples, seed)
        found[arm] = ArmComparisons(versus_random, versus_full, relative)
    return found


def relative_to_full(
    arm_items: SeedItems, full_items: SeedItems, resamples: int = RESAMPLES, seed: int = 0
) -> Difference | None:
    """Relative performance vs full (%) on the common seeds, with its paired bootstrap
    interval (evaluation.statistics.paired_relative); None where it cannot be computed (the
    Δ vs full's note says why)."""
    seeds = sorted(set(arm_items) & set(full_items))
    if not seeds:
        return None
    try:
        return paired_relative(
            {s: arm_items[s] for s in seeds}, {s: full_items[s] for s in seeds}, resamples, seed
        )
    except UserError:
        return None


def excludes_zero(d: Difference) -> bool:
    return d.low > 0 or d.high < 0


def _arm_items(
    runs: Sequence[Mapping[str, Any]],
) -> tuple[dict[ArmKey, SeedItems], dict[ArmKey, dict[Any, str]]]:
    """Per arm, seed -> its items; and per arm, seed -> why a scored run has no items."""
    items: dict[ArmKey, SeedItems] = defaultdict(dict)
    missing: dict[ArmKey, dict[Any, str]] = defaultdict(dict)
    for run in runs:
        if run.get("scores") is None:
            continue
        try:
            items[arm_key(run)][run["seed"]] = load_items(run["dirs"]["eval"]).tasks
        except UserError as exc:
            missing[arm_key(run)][run["seed"]] = str(exc)
    return dict(items), dict(missing)


def _versus(
    arm: ArmKey,
    baseline: ArmKey | None,
    items: Mapping[ArmKey, SeedItems],
    missing: Mapping[ArmKey, Mapping[Any, str]],
    label: str,
    resamples: int,
    seed: int,
) -> Versus:
    if baseline is None or (baseline not in items and baseline not in missing):
        return Versus(label, None, (), no_arm(label))
    own, other = items.get(arm, {}), items.get(baseline, {})
    if not own or not other:
        whose = missing.get(arm if not own else baseline, {})
        side = "this arm" if not own else label
        reasons = "; ".join(f"seed {s}: {why}" for s, why in sorted(whose.items()))
        return Versus(label, None, (), f"{side} has no per-item scores ({reasons})")
    common = tuple(sorted(set(own) & set(other)))
    left_out = [
        f"seed {s}: {_absent(missing.get(baseline, {}), s, f'no {label} run')}"
        for s in sorted(set(own) - set(other))
    ]
    left_out += [
        f"seed {s}: {_absent(missing.get(arm, {}), s, 'no run of this arm')}"
        for s in sorted(set(other) - set(own))
    ]
    if not common:
        return Versus(label, None, (), f"no seed in common with {label}")
    note = ""
    if left_out:
        shown = ", ".join(map(str, common))
        note = f"compared on seed{'s' if len(common) > 1 else ''} {shown} ({'; '.join(left_out)})"
    try:
        comparison = paired_difference(
            {s: own[s] for s in common}, {s: other[s] for s in common}, resamples, seed
        )
    except UserError as exc:
        return Versus(label, None, common, f"not comparable: {exc}")
    return Versus(label, comparison, common, note)


def _absent(missing: Mapping[Any, str], seed: Any, otherwise: str) -> str:
    return f"no per-item scores ({missing[seed]})" if seed in missing else otherwise
