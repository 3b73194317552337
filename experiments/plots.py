"""The report's figures (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from experiments.significance import AA, ORACLE, arm_name  # noqa: E402

_ARM_STYLES = {AA: {"color": "grey", "linestyle": ":"}, ORACLE: {"color": "C3", "linestyle": "--"}}


def composition_figure(
    compositions: Mapping[str, Mapping[str, Counter]], title: str, top: int = 25
) -> Figure | None:
    """Share of each skill and of the most frequent object concepts, one bar group per subset."""
    kinds = [k for k in ("skill", "object") if any(c.get(k) for c in compositions.values())]
    if not kinds:
        return None
    fig, axes = plt.subplots(len(kinds), 1, figsize=(11, 3.6 * len(kinds)), squeeze=False)
    for ax, kind in zip(axes[:, 0], kinds, strict=True):
        total: Counter = Counter()
        for composition in compositions.values():
            total.update(composition.get(kind, Counter()))
        names = [name for name, _ in total.most_common(top)]
        width = 0.8 / max(1, len(compositions))
        x = np.arange(len(names))
        for i, (label, composition) in enumerate(compositions.items()):
            counts = composition.get(kind, Counter())
            n = sum(counts.values()) or 1
            ax.bar(x + i * width, [counts.get(name, 0) / n for name in names], width, label=label)
        ax.set_xticks(
            x + width * (len(compositions) - 1) / 2, names, rotation=60, ha="right", fontsize=7
        )
        ax.set_ylabel(f"share of {kind} mentions")
        ax.set_title(f"{title}: {kind}s" + (f" (top {top})" if len(total) > top else ""))
        ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    return fig


def budget_curve_figure(rows: Sequence[Mapping[str, Any]]) -> Figure:
    """Against budget, per arm: relative performance vs full (%) and Δ vs random (points), each
    the paired bootstrap's point with its 95% interval as a band (report rows' "relative_ci"
    and "vs_random"). The Δ panel is left out when no arm has a Δ (a random-only sweep)."""

    def relative(row: Mapping[str, Any]) -> Any:
        return row.get("relative_ci")

    def delta(row: Mapping[str, Any]) -> Any:
        return (row.get("vs_random") or {}).get("overall", {}).get("score")

    budgeted = [r for r in rows if r["budget"] is not None]
    measures = [relative] + ([delta] if any(delta(r) is not None for r in budgeted) else [])
    fig, grid = plt.subplots(1, len(measures), figsize=(6.5 * len(measures), 4.8), squeeze=False)
    axes = list(grid[0])
    arms = sorted({(r["method"], r["control"]) for r in budgeted})
    for ax, measure in zip(axes, measures, strict=True):
        for method, control in arms:
            points = sorted(
                (
                    (r["budget"], measure(r))
                    for r in budgeted
                    if (r["method"], r["control"]) == (method, control) and measure(r) is not None
                ),
                key=lambda p: p[0],
            )
            if not points:
                continue
            x = [b for b, _ in points]
            style = _ARM_STYLES.get(control, {})
            line = ax.plot(
                x,
                [d["delta"] for _, d in points],
                marker="o",
                label=arm_name(method, None, control),
                **style,
            )[0]
            lows, highs = [d["low"] for _, d in points], [d["high"] for _, d in points]
            ax.fill_between(x, lows, highs, alpha=0.15, color=line.get_color())
        ax.set_xlabel("budget (fraction of the pool)")
    axes[0].axhline(100.0, color="grey", linestyle="--", linewidth=1, label="full data")
    axes[0].set_ylabel("relative performance vs full data (%)")
    axes[0].set_title("relative performance vs budget (95% paired bootstrap CI)")
    if len(axes) == 2:
        axes[1].axhline(0.0, color="grey", linestyle="--", linewidth=1, label="random")
        axes[1].set_ylabel("Δ vs random at the same budget (points)")
        axes[1].set_title("Δ vs random vs budget (95% paired bootstrap CI)")
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def delta_figure(rows: Sequence[Mapping[str, Any]]) -> Figure:
    """Δ vs random (overall score) per arm with its 95% interval as error bars; filled marker:
    the interval excludes 0. Controls are drawn in their own colours and named as such."""
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(rows) + 2), 4.8))
    for i, row in enumerate(rows):
        d = row["vs_random"]["overall"]["score"]
        style = _ARM_STYLES.get(row["control"], {"color": "C0"})
        excludes = d["low"] > 0 or d["high"] < 0
        ax.errorbar(
            [i],
            [d["delta"]],
            yerr=[[d["delta"] - d["low"]], [d["high"] - d["delta"]]],
            marker="o",
            capsize=4,
            color=style["color"],
            markerfacecolor=style["color"] if excludes else "white",
        )
    ax.axhline(0.0, color="grey", linestyle="--", linewidth=1)
    ax.set_xticks(range(len(rows)), [r["name"] for r in rows], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("Δ vs random at the same budget (points)")
    ax.set_title("Δ vs random, 95% paired bootstrap CI (filled: excludes 0)")
    fig.tight_layout()
    return fig


def head_tail_figure(rows: Sequence[Mapping[str, Any]]) -> Figure:
    """Head and tail accuracy per method/budget (mean ± std over seeds)."""
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(rows)), 4.5))
    x = np.arange(len(rows))
    for offset, part in ((-0.2, "head"), (0.2, "tail")):
        ax.bar(
            x + offset,
            [r[part]["mean"] for r in rows],
            0.4,
            yerr=[r[part]["std"] for r in rows],
            capsize=3,
            label=part,
        )
    ax.set_xticks(x, [r["name"] for r in rows], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("mean score over tasks")
    ax.set_title("head vs tail scores (mean ± std over seeds)")
    ax.legend()
    fig.tight_layout()
    return fig


def save(fig: Figure, path: Any) -> None:
    from pathlib import Path

    from curation.data.fileio import atomic_open

    with atomic_open(Path(path), "wb") as handle:
        fig.savefig(handle, format="png", dpi=110)
    plt.close(fig)
