"""Long-tail tables and rank-frequency plots of a pool, and of a subset against it.

Per perspective: tau_k, head/tail entity counts, the share of entity mass (mentions) that
falls on tail entities, the most frequent entities; with a subset, the same shares in the
subset measured against the POOL's head/tail split, and how many tail entities survive.
Plots: log-log rank-frequency curves, pool and subset overlaid.

Head entities are given two ways, labelled: the paper's figure (the ADR reference reports the
0-based index of the tau entity in the count-descending order: the entities strictly before
it, so ties at tau after it are not head) and ours (every entity with n_e >= tau, the head of
the long-tail rule). The tail (n_e < tau) is the same in both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from curation.data.fileio import atomic_open, atomic_write_json, atomic_write_text
from curation.data.longtail import q_for, tau_threshold
from curation.methods.adr.entities.table import EntityTable


@dataclass
class PerspectiveReport:
    perspective: str
    q: float
    tau: int
    entities: int
    head_entities_paper: int  # the reference's figure: index of the tau entity
    head_entities_ge_tau: int  # ours: entities with n_e >= tau
    tail_entities: int  # n_e < tau
    mass: int  # mentions (token) or sample-entity pairs
    tail_share: float  # share of mass on tail entities
    top: list[tuple[str, int]]
    # With a subset (all measured against the pool's head/tail split):
    subset_mass: int | None = None
    subset_tail_share: float | None = None
    subset_tail_entities_covered: int | None = None

    @property
    def head_share(self) -> float:
        return 1.0 - self.tail_share if self.mass else 0.0

    @property
    def subset_head_share(self) -> float | None:
        if self.subset_tail_share is None:
            return None
        return 1.0 - self.subset_tail_share if self.subset_mass else 0.0


def paper_head_count(counts: np.ndarray, q: float | None, tau: int) -> int:
    """The ADR reference's head count: the 0-based index, in the count-descending order, of the
    entity at which the cumulative mass first reaches q of the total (the tau entity). With a
    fixed tau (q None: no cumulative walk picks an entity) the index of the first entity at or
    below tau, i.e. the entities with n_e > tau."""
    counts = np.asarray(counts, dtype=np.int64)
    if q is None:
        return int((counts > tau).sum())
    ordered = np.sort(counts)[::-1]
    if ordered.size == 0:
        return 0
    # q through its decimal text, as curation.data.longtail.tau_threshold takes it
    target = Fraction(repr(float(q))) * int(ordered.sum())
    at_least = -(-target.numerator // target.denominator)  # cumulative counts are integers
    return int(np.searchsorted(np.cumsum(ordered), at_least, side="left"))


def tail_mask(table: EntityTable, tau: int) -> np.ndarray:
    return table.counts < tau


def mass_share(counts: np.ndarray, mask: np.ndarray) -> float:
    total = int(counts.sum())
    return float(counts[mask].sum() / total) if total else 0.0


def perspective_report(
    pool: EntityTable,
    q: float,
    subset: EntityTable | None = None,
    tau: int | None = None,
    top_k: int = 10,
) -> PerspectiveReport:
    """`tau` given: a fixed threshold (the paper's head figure then counts n_e > tau)."""
    counts = pool.counts
    fixed = tau is not None
    tau = tau_threshold(pool.count_dict(), q) if tau is None else tau
    tail = counts < tau
    order = np.argsort(-counts, kind="stable")[:top_k]
    report = PerspectiveReport(
        perspective=pool.perspective,
        q=q,
        tau=int(tau),
        entities=int(counts.size),
        head_entities_paper=paper_head_count(counts, None if fixed else q, int(tau)),
        head_entities_ge_tau=int((~tail).sum()),
        tail_entities=int(tail.sum()),
        mass=int(counts.sum()),
        tail_share=mass_share(counts, tail),
        top=[(pool.vocab[j], int(counts[j])) for j in order],
    )
    if subset is not None:
        sub_counts = aligned_counts(subset, pool.vocab)
        report.subset_mass = int(sub_counts.sum())
        report.subset_tail_share = mass_share(sub_counts, tail)
        report.subset_tail_entities_covered = int(((sub_counts > 0) & tail).sum())
    return report


def aligned_counts(table: EntityTable, vocab: list[str]) -> np.ndarray:
    """The table's n_e in `vocab`'s column order; entities outside `vocab` are left out."""
    position = {entity: j for j, entity in enumerate(vocab)}
    out = np.zeros(len(vocab), dtype=np.int64)
    for entity, count in zip(table.vocab, table.counts.tolist(), strict=True):
        if entity in position:
            out[position[entity]] += count
    return out


def long_tail_reports(
    pool: Mapping[str, EntityTable],
    q: Mapping[str, float] | None = None,
    subset: Mapping[str, EntityTable] | None = None,
    taus: Mapping[str, int] | None = None,
) -> list[PerspectiveReport]:
    return [
        perspective_report(
            table,
            q_for(name, q),
            None if subset is None else subset[name],
            None if taus is None else taus.get(name),
        )
        for name, table in pool.items()
    ]


def format_reports(reports: list[PerspectiveReport]) -> str:
    with_subset = any(r.subset_tail_share is not None for r in reports)
    header = (
        f"{'perspective':<14}{'q':>5}{'tau':>8}{'entities':>10}{'head (paper)':>14}"
        f"{'head (n>=tau)':>15}{'mass':>10}{'tail share':>12}"
    )
    if with_subset:
        header += f"{'subset mass':>13}{'subset tail':>13}{'tail kept':>11}"
    lines = [header, "-" * len(header)]
    for r in reports:
        line = (
            f"{r.perspective:<14}{r.q:>5.2f}{r.tau:>8}{r.entities:>10}"
            f"{r.head_entities_paper:>14}{r.head_entities_ge_tau:>15}"
            f"{r.mass:>10}{100 * r.tail_share:>11.1f}%"
        )
        if with_subset and r.subset_tail_share is not None:
            line += (
                f"{r.subset_mass:>13}{100 * r.subset_tail_share:>12.1f}%"
                f"{r.subset_tail_entities_covered:>6}/{r.tail_entities:<4}"
            )
        lines.append(line)
    lines.append("")
    lines.append(
        "head (paper): the ADR reference's figure, the index of the tau entity in the "
        "count-descending order; head (n>=tau): entities with n_e >= tau (ties at tau included)"
    )
    for r in reports:
        top = ", ".join(f"{name} ({count})" for name, count in r.top)
        lines.append(f"top {r.perspective}: {top}")
    return "\n".join(lines) + "\n"


def plot_rank_frequency(
    pool: EntityTable,
    path: str | Path,
    tau: int,
    subset: EntityTable | None = None,
    subset_label: str = "subset",
) -> Path:
    """Log-log rank-frequency curve(s) with the pool's tau drawn in, written as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4), dpi=110)
    for table, label in ((pool, "pool"), (subset, subset_label)):
        if table is None:
            continue
        counts = np.sort(table.counts[table.counts > 0])[::-1]
        if counts.size:
            ax.loglog(
                np.arange(1, counts.size + 1),
                counts,
                marker=".",
                markersize=3,
                linewidth=1,
                label=f"{label} ({counts.size} entities)",
            )
    ax.axhline(tau, color="grey", linestyle="--", linewidth=0.8, label=f"pool tau = {tau}")
    ax.set_xlabel("rank")
    ax.set_ylabel("frequency n_e")
    ax.set_title(f"{pool.perspective}: rank-frequency")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, format="png")
    plt.close(fig)
    return path


def write_report(
    out_dir: str | Path,
    pool: Mapping[str, EntityTable],
    q: Mapping[str, float] | None = None,
    subset: Mapping[str, EntityTable] | None = None,
    subset_label: str = "subset",
) -> tuple[list[PerspectiveReport], list[Path]]:
    """longtail.txt, longtail.json and rank_frequency_<perspective>.png under out_dir."""
    out_dir = Path(out_dir)
    reports = long_tail_reports(pool, q, subset)
    atomic_write_text(out_dir / "longtail.txt", format_reports(reports))
    atomic_write_json(out_dir / "longtail.json", [_as_json(r) for r in reports])
    plots = []
    for r in reports:
        path = out_dir / f"rank_frequency_{r.perspective}.png"
        after = None if subset is None else subset[r.perspective]
        plots.append(plot_rank_frequency(pool[r.perspective], path, r.tau, after, subset_label))
    return reports, plots


def _as_json(report: PerspectiveReport) -> dict[str, Any]:
    data = asdict(report)
    data["top"] = [[name, count] for name, count in report.top]
    data["head_share"] = report.head_share
    data["subset_head_share"] = report.subset_head_share
    return data
