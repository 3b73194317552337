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


def budget_curve_figure(rows: Sequence[Mapping[str, Any]], measure: str = "relative") -> Figure:
    """Relative performance vs budget per method: mean over seeds with min-max and std bars."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method in sorted({r["method"] for r in rows}):
        points = sorted(
            (r for r in rows if r["method"] == method and r["budget"] is not None),
            key=lambda r: r["budget"],
        )
        if not points:
            continue
        x = [p["budget"] for p in points]
        mean = [p[measure]["mean"] for p in points]
        std = [p[measure]["std"] for p in points]
        ax.errorbar(x, mean, yerr=std, marker="o", capsize=4, label=method)
        lo = [p[measure]["min"] for p in points]
        hi = [p[measure]["max"] for p in points]
        ax.fill_between(x, lo, hi, alpha=0.15)
    ax.axhline(100.0, color="grey", linestyle="--", linewidth=1, label="full data")
    ax.set_xlabel("budget (fraction of the pool)")
    ax.set_ylabel("relative performance vs full data (%)")
    ax.set_title("relative performance vs budget (mean ± std over seeds)")
    ax.legend(fontsize=8)
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
