"""Log a run's scores to W&B: per-task metrics, the table, and the files as artifacts.

Attaches to the active W&B run when there is one (e.g. the experiment's run); otherwise
starts one whose files all stay inside the evaluation's run directory (offline by default).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evaluation.config import EvalWandbConfig
from training.wandb_env import scoped_environ, wandb_env


def log_scores(run_dir: Path, scores: Mapping[str, Any], cfg: EvalWandbConfig) -> str | None:
    """Log and return the W&B run's id (None when W&B is disabled)."""
    if cfg.mode == "disabled":
        return None
    loaded = sys.modules.get("wandb")
    own_run = loaded is None or loaded.run is None
    with scoped_environ(wandb_env(run_dir, cfg.mode, environ={}) if own_run else {}):
        import wandb  # here: its staging folders and service take TMPDIR from the run dir

        run = (
            wandb.run
            if not own_run
            else wandb.init(
                project=cfg.project,
                name=cfg.name or run_dir.name,
                group=cfg.group or None,
                job_type="eval",
                dir=str(run_dir),
                config={
                    "suite": scores["suite"],
                    "checkpoint": scores["checkpoint"],
                    "blind": bool(scores.get("blind")),
                },
            )
        )
        try:
            _log(run, run_dir, scores, cfg)
            return run.id
        finally:
            if own_run:
                run.finish()


def metrics(scores: Mapping[str, Any]) -> dict[str, float]:
    """eval/<suite>/<task>/{score,head,tail} and eval/<suite>/{relative_performance,...};
    eval/<suite>-blind/... for a blind run (never mixed with the real scores of a shared run)."""
    prefix = f"eval/{_suite_key(scores)}"
    values: dict[str, float] = {}
    for task, entry in scores["tasks"].items():
        for part in ("score", "head", "tail"):
            if entry.get("status") == "scored" and isinstance(entry.get(part), (int, float)):
                values[f"{prefix}/{task}/{part}"] = float(entry[part])
    overall = scores.get("reference", {}).get("score", {})
    for measure in ("relative_performance", "mean_relative_gain"):
        if isinstance(overall.get(measure), (int, float)):
            values[f"{prefix}/{measure}"] = float(overall[measure])
    return values


def _log(run: Any, run_dir: Path, scores: Mapping[str, Any], cfg: EvalWandbConfig) -> None:
    import wandb

    suite = _suite_key(scores)
    columns = ["task", "metric", "status", "score", "head", "tail", "n", "se"]
    table = wandb.Table(
        columns=columns,
        data=[
            [
                task,
                e["metric"],
                e["status"],
                e.get("score"),
                e.get("head"),
                e.get("tail"),
                e.get("n"),
                e.get("se"),
            ]
            for task, e in scores["tasks"].items()
        ],
    )
    run.log({**metrics(scores), f"eval/{suite}/table": table})
    name = _artifact_name(f"eval-{suite}-{run_dir.name}")
    results = wandb.Artifact(name, type="eval-results", metadata={"suite": suite})
    for file in ("scores.json", "scores.md", "config.yaml"):
        if (run_dir / file).is_file():
            results.add_file(str(run_dir / file))
    for entry in scores["tasks"].values():
        results.add_file(str(run_dir / entry["results"]), name=entry["results"])
    run.log_artifact(results)
    if cfg.log_samples:
        samples = wandb.Artifact(f"{name}-samples", type="eval-samples", metadata={"suite": suite})
        for entry in scores["tasks"].values():
            samples.add_file(str(run_dir / entry["samples"]), name=entry["samples"])
        run.log_artifact(samples)


def _suite_key(scores: Mapping[str, Any]) -> str:
    return f"{scores['suite']}-blind" if scores.get("blind") else str(scores["suite"])


def _artifact_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[:120]
