"""The report's numbers in W&B: one run of job_type "report" per sweep, in the sweep's group,
whose summary holds every Δ (vs random and vs full: point, interval, half-width, P(Δ>0)), the
seed means and the A/A verdict, with the comparison table and the PNGs.

A separate run rather than the stage runs' summaries: a comparison belongs to two arms and to
no single stage, and the stage runs are finished (re-opening them would rewrite their files).
It takes the W&B settings (mode, project, group) the sweep's evaluations ran with, from their
saved config.yaml, and keeps its files in the report directory (offline by default). Its id is
fixed per sweep directory, so a re-run report replaces the summary once synced instead of
adding a run. Offline, W&B ignores `resume` and writes every run into a new
`offline-run-<time>-<id>` folder, and `vlmdata sync` would upload each (the stale one possibly
last); so a re-run report replaces the earlier folders of its id: they are moved aside, deleted
once the new run is on disk, put back if it fails.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from curation.data.fileio import TMP_PREFIX
from experiments.report_deltas import half_width
from training.wandb_env import scoped_environ, wandb_env

PREFIX = "report"
ROW_STATS = ("overall", "blind", "head", "tail", "relative", "mrg_pct", "selection_s")


def log_report(
    out: Path,
    runs: Sequence[Mapping[str, Any]],
    summary: Mapping[str, Any],
    figures: Mapping[str, str],
) -> str | None:
    """Log the report run; returns its id (None when the evaluations ran without W&B)."""
    settings = sweep_wandb(runs)
    if settings is None or settings.get("mode", "disabled") == "disabled":
        return None
    env = wandb_env(out, settings["mode"], environ={})
    with scoped_environ(env), _replacing_earlier_runs(out / "wandb", run_id(out)):
        import wandb

        run = wandb.init(
            project=settings.get("project") or "vlmdata",
            group=settings.get("group") or None,
            name=f"{settings.get('group') or out.parent.name} report",
            job_type="report",
            id=run_id(out),
            resume="allow",
            dir=str(out),
            config={"protocol": summary["protocol"], "sweep_dir": str(out.parent)},
            reinit="finish_previous",
        )
        try:
            run.summary.update(metrics(summary))
            run.log(
                {
                    f"{PREFIX}/table": _table(wandb, summary["rows"]),
                    **{
                        f"{PREFIX}/figures/{Path(name).stem}": wandb.Image(str(out / name))
                        for name in figures.values()
                    },
                }
            )
            return run.id
        finally:
            run.finish()
            # finish() can return before W&B's service has written the run's .wandb file;
            # teardown waits for it (the report is a process's last W&B run).
            wandb.teardown()


@contextlib.contextmanager
def _replacing_earlier_runs(wandb_dir: Path, run: str) -> Iterator[None]:
    """Move the local folders of run id `run` aside for the block (first deleting what a killed
    report left aside); delete them when the block succeeds, else delete the block's own folder
    and put them back."""
    for stale in wandb_dir.glob(f"{TMP_PREFIX}*run-*-{run}.old"):
        shutil.rmtree(stale)
    aside = {p: p.with_name(f"{TMP_PREFIX}{p.name}.old") for p in _run_folders(wandb_dir, run)}
    for folder, moved in aside.items():
        folder.rename(moved)
    try:
        yield
    except BaseException:
        for failed in _run_folders(wandb_dir, run):
            shutil.rmtree(failed)
        for folder, moved in aside.items():
            moved.rename(folder)
        raise
    for moved in aside.values():
        shutil.rmtree(moved)


def _run_folders(wandb_dir: Path, run: str) -> list[Path]:
    """W&B's local folders of run id `run`: offline-run-<time>-<run>, or run-<time>-<run> when
    online (not the latest-run link)."""
    return [p for p in wandb_dir.glob(f"*run-*-{run}") if p.is_dir() and not p.is_symlink()]


def sweep_wandb(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The W&B settings of the first scored run's evaluation (its saved config.yaml)."""
    for run in runs:
        config = Path(run["dirs"]["eval"]) / "config.yaml"
        if run.get("scores") is not None and config.is_file():
            wandb = (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("wandb")
            return wandb if isinstance(wandb, dict) else None
    return None


def run_id(out: Path) -> str:
    return "report-" + hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:16]


def metrics(summary: Mapping[str, Any]) -> dict[str, float]:
    """report/<arm>/vs_random/{delta,low,high,half_width,p_improvement} (the overall score;
    .../head/... and .../tail/... for the parts; .../<task>/... per task), the same for
    vs_full, report/<arm>/<seed mean> and report/aa_trustworthy."""
    values: dict[str, float] = {f"{PREFIX}/aa_trustworthy": float(summary["aa_trustworthy"])}
    for row in summary["rows"]:
        arm = f"{PREFIX}/{arm_slug(row)}"
        for versus in ("vs_random", "vs_full"):
            found = row.get(versus) or {}
            for part, d in found.get("overall", {}).items():
                where = f"{arm}/{versus}" + ("" if part == "score" else f"/{part}")
                values.update(_difference(where, d))
            for task, parts in found.get("per_task", {}).items():
                if "score" in parts:
                    values.update(_difference(f"{arm}/{versus}/{task}", parts["score"]))
        for stat in ROW_STATS:
            if stat in row:
                values[f"{arm}/{stat}"] = float(row[stat]["mean"])
        if "relative_ci" in row:
            values.update(_difference(f"{arm}/relative_ci", row["relative_ci"]))
    return values


def arm_slug(row: Mapping[str, Any]) -> str:
    control = f"-{row['control']}" if row["control"] else ""
    budget = "" if row["budget"] is None else f"@{row['budget']:g}"
    return f"{row['method']}{control}{budget}"


def _difference(where: str, d: Mapping[str, float]) -> dict[str, float]:
    return {
        f"{where}/delta": float(d["delta"]),
        f"{where}/low": float(d["low"]),
        f"{where}/high": float(d["high"]),
        f"{where}/half_width": float(half_width(d)),
        f"{where}/p_improvement": float(d["p_improvement"]),
    }


def _table(wandb: Any, rows: Sequence[Mapping[str, Any]]) -> Any:
    columns = ["arm", "control", "budget", "seeds", "delta", "low", "high", "p_improvement"]
    data = []
    for row in rows:
        d = (row.get("vs_random") or {}).get("overall", {}).get("score") or {}
        data.append(
            [
                row["name"],
                row["control"],
                row["budget"],
                len(row["seeds"]),
                d.get("delta"),
                d.get("low"),
                d.get("high"),
                d.get("p_improvement"),
            ]
        )
    return wandb.Table(columns=columns, data=data)
