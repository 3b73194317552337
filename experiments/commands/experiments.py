"""`vlmdata run | sweep | demo | report | sync`: the experiment loop and its outputs."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from configs.compose import (
    ConfigError,
    choices_hint,
    compose,
    config_path,
    group_choices,
    resolved_dict,
    to_object,
)
from configs.errors import InputNotADirectoryError
from experiments import report_deltas
from experiments.commands import add_command, add_overrides
from experiments.executors.local import run_local
from experiments.plan import plan_run
from experiments.report import comparison_table, load_runs, protocol_line, ranked, write_rows
from experiments.schemas import ExperimentConfig, SweepConfig
from experiments.stages import is_done
from experiments.sweep import JobGraph, sweep_graph, write_plan


@dataclass
class SweepCommandConfig(SweepConfig):
    wait: bool = True  # slurm: block until every job ended, then write the report


@dataclass
class DemoConfig:
    sweep: str = "toyworld_demo"
    overrides: list[str] = field(default_factory=list)


def register(subparsers: argparse._SubParsersAction) -> None:
    run = add_command(
        subparsers,
        "run",
        _run,
        help="one run: curate -> train -> export -> evaluate",
        description="Compose configs/experiment/NAME.yaml (experiment=NAME, default toyworld) "
        "with overrides and run its stages here; finished stages are reused.",
        keys=f"keys: experiment={'|'.join(group_choices('experiment'))}  "
        f"data={'|'.join(group_choices('data'))}  curation=NAME  training=NAME  "
        f"evaluation={'|'.join(group_choices('evaluation'))}  "
        "<group>.<key>=...  store=DIR  wandb.mode=offline|online|disabled",
    )
    add_overrides(run)

    sweep = add_command(
        subparsers,
        "sweep",
        _sweep,
        help="a grid of runs (methods x budgets x seeds + full-data reference)",
        description="Compose configs/sweep/NAME.yaml (sweep=NAME, default toyworld_demo) and run "
        "its job graph with the local executor (in order, here) or slurm (submitit job arrays "
        "with afterok dependencies), then write the report.",
        keys=f"keys: sweep={'|'.join(group_choices('sweep'))}  executor=local|slurm  "
        f"cluster={'|'.join(group_choices('cluster'))}  methods=[..]  budgets=[..]  "
        "seeds=[..]  overrides=[..]  wait=true|false",
    )
    sweep.add_argument("--dry-run", action="store_true", help="print the job graph and exit")
    add_overrides(sweep)

    demo = add_command(
        subparsers,
        "demo",
        _demo,
        help="the ToyWorld sweep end to end, then the comparison table",
        description="Generate ToyWorld, curate with every method at 20% x 3 seeds plus the full "
        "pool, train the tiny LLaVA on each subset, score it with lmms-eval and report.",
        keys="keys: sweep=NAME  overrides=[..]",
    )
    add_overrides(demo)

    report = add_command(
        subparsers,
        "report",
        _report,
        help="report.md + PNGs for a sweep directory",
        description="Summarise a sweep's finished runs.",
    )
    report.add_argument("sweep_dir")

    sync = add_command(
        subparsers,
        "sync",
        _sync,
        help="upload offline W&B runs (wandb sync)",
        description="Find every offline W&B run under DIR and `wandb sync` it.",
    )
    sync.add_argument("dir")
    sync.add_argument("--dry-run", action="store_true", help="list the runs, upload nothing")


def _selected(overrides: list[str], key: str, default: str) -> tuple[str, list[str]]:
    """(the name of `key`'s config, checked, the other overrides)."""
    chosen = next((o.split("=", 1)[1] for o in overrides if o.startswith(f"{key}=")), default)
    if not config_path(key, chosen).is_file():
        raise ConfigError(
            f"{key}={chosen}: no config '{chosen}' in group '{key}'{choices_hint(key)}"
        )
    return chosen, [o for o in overrides if not o.startswith(f"{key}=")]


def _run(args: argparse.Namespace) -> int:
    name, overrides = _selected(args.overrides, "experiment", "toyworld")
    exp: ExperimentConfig = to_object(
        compose(ExperimentConfig, config_path("experiment", name), overrides)
    )
    graph = JobGraph()
    graph.add(plan_run(exp))
    run_local(graph)
    scores = Path(graph.runs[0].jobs["eval"].out_dir) / "scores.md"
    print(scores.read_text(encoding="utf-8") if scores.is_file() else "")
    print(f"outputs: {', '.join(j.out_dir for j in graph.runs[0].jobs.values())}")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    name, overrides = _selected(args.overrides, "sweep", "toyworld_demo")
    cfg = compose(SweepCommandConfig, config_path("sweep", name), overrides)
    sweep: SweepCommandConfig = to_object(cfg)
    graph = sweep_graph(sweep)
    if args.dry_run:
        print(format_graph(graph))
        return 0
    out = write_plan(sweep, graph, resolved_dict(cfg))
    if sweep.executor == "slurm":
        from experiments.executors.slurm import submit_slurm, wait_slurm

        submitted = submit_slurm(graph, sweep.cluster, out / "slurm")
        if not sweep.wait:
            print(f"submitted; when done: vlmdata report {out}")
            return 0
        wait_slurm(submitted)
    else:
        run_local(graph, workers=sweep.workers)
    _print_report(out)
    return 0


def _demo(args: argparse.Namespace) -> int:
    cfg: DemoConfig = to_object(compose(DemoConfig, overrides=args.overrides))
    started = time.perf_counter()
    sweep: SweepConfig = to_object(
        compose(SweepConfig, config_path("sweep", cfg.sweep), list(cfg.overrides))
    )
    graph = sweep_graph(sweep)
    out = write_plan(sweep, graph, resolved_dict(sweep))
    print(f"vlmdata demo: {len(graph.runs)} runs, {len(graph.jobs)} stage jobs -> {out}")
    run_local(graph, workers=sweep.workers)
    _print_report(out)
    print(f"demo finished in {time.perf_counter() - started:.0f} s")
    return 0


def _report(args: argparse.Namespace) -> int:
    _print_report(Path(args.sweep_dir))
    return 0


def _print_report(out: Path) -> None:
    plan, runs = load_runs(out)
    path, rows = write_rows(out, plan, runs)
    reference = plan["sweep"].get("reference") or "-"
    print()
    print(protocol_line(plan))
    for warning in report_deltas.aa_failures(rows):
        print(warning)
    print(
        f"Δ vs random at the same budget and vs {reference}, paired by seed, with 95% paired "
        f"bootstrap intervals ({report_deltas.MARK}: excludes 0; not corrected for multiple "
        f"comparisons); other values mean ± std over seeds, relative to {reference} (same seed)"
    )
    print(comparison_table(ranked(rows), ranges=False))
    controls = [r for r in rows if r["control"]]
    if controls:
        print("controls (never ranked):")
        print(comparison_table(controls, ranges=False))
    print("\n".join(line for line in report_deltas.controls_section(rows) if line))
    print(f"report: {path}")


def _sync(args: argparse.Namespace) -> int:
    root = Path(args.dir)
    if not root.is_dir():
        raise InputNotADirectoryError(f"no such directory: {root}")
    runs = sorted(p for p in root.rglob("offline-run-*") if p.is_dir())
    print(f"{len(runs)} offline W&B runs under {root}")
    if args.dry_run or not runs:
        for run in runs:
            print(f"  {run}")
        return 0
    wandb_cli = Path(sys.executable).with_name("wandb")
    return subprocess.call([str(wandb_cli), "sync", *map(str, runs)])


def format_graph(graph: JobGraph) -> str:
    lines = [f"{len(graph.runs)} runs, {len(graph.jobs)} stage jobs"]
    for stage, jobs in graph.by_stage():
        lines.append(f"{stage} ({len(jobs)} jobs)")
        for job in jobs:
            deps = ", ".join(graph.jobs[d].short for d in job.deps) or "-"
            state = "done" if is_done(job) else "todo"
            lines.append(f"  {job.short}  [{state}]  after: {deps}  runs: {job.runs_shown()}")
    return "\n".join(lines)
