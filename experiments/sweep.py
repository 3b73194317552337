"""A sweep: the grid of runs (methods x budgets x seeds + the full-data reference per seed),
merged into one job graph in which shared stages appear once."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from configs.compose import ConfigError, compose, config_path, to_object
from curation.data.fileio import atomic_write_json
from curation.data.outdir import differing_keys
from experiments.plan import (
    STAGES,
    Job,
    RunPlan,
    evaluation_identity,
    plan_run,
    training_identity,
)
from experiments.schemas import ExperimentConfig, SweepConfig


@dataclass
class JobGraph:
    jobs: dict[str, Job] = field(default_factory=dict)  # key -> job, in insertion order
    runs: list[RunPlan] = field(default_factory=list)

    def add(self, plan: RunPlan) -> None:
        self.runs.append(plan)
        for job in plan.jobs.values():
            if job.key not in self.jobs:
                self.jobs[job.key] = job
            elif plan.label not in self.jobs[job.key].label.split(" | "):
                shared = self.jobs[job.key]
                self.jobs[job.key] = Job(
                    shared.stage,
                    shared.key,
                    shared.out_dir,
                    shared.deps,
                    shared.spec,
                    f"{shared.label} | {plan.label}",
                )

    def by_stage(self) -> list[tuple[str, list[Job]]]:
        return [(stage, [j for j in self.jobs.values() if j.stage == stage]) for stage in STAGES]

    def describe(self) -> dict[str, Any]:
        return {
            "jobs": [
                {
                    "stage": j.stage,
                    "key": j.key,
                    "out_dir": j.out_dir,
                    "deps": list(j.deps),
                    "label": j.label,
                }
                for j in self.jobs.values()
            ],
            "runs": [run.describe() for run in self.runs],
        }


def experiment_config(name: str, overrides: list[str]) -> ExperimentConfig:
    return to_object(compose(ExperimentConfig, config_path("experiment", name), overrides))


def sweep_graph(sweep: SweepConfig) -> JobGraph:
    blinded = _blinded_methods(sweep)
    graph = JobGraph()
    for seed in sweep.seeds:
        seeded = [f"curation.seed={seed}", f"training.seed={seed}", *sweep.overrides]
        reference_seeds = sweep.seeds if sweep.reference_seeds is None else sweep.reference_seeds
        if sweep.reference and seed in reference_seeds:
            exp = experiment_config(sweep.experiment, [f"curation={sweep.reference}", *seeded])
            graph.add(
                _named(
                    plan_run(
                        exp,
                        label=f"{sweep.reference} s{seed}",
                        group=sweep.name,
                        blind_control=sweep.reference in blinded,
                        protocol=sweep.protocol,
                        decontaminate=sweep.decontaminate,
                    ),
                    sweep.reference,
                )
            )
        for method in sweep.methods:
            probe = experiment_config(sweep.experiment, [f"curation={method}", *seeded])
            budgets = [None] if probe.curation.budget is None else sweep.budgets
            for budget in budgets:
                extra = [] if budget is None else [f"curation.budget={budget}"]
                exp = (
                    probe
                    if budget is None
                    else experiment_config(
                        sweep.experiment, [f"curation={method}", *seeded, *extra]
                    )
                )
                label = f"{method}" + ("" if budget is None else f" b{budget:g}") + f" s{seed}"
                plan = plan_run(
                    exp,
                    label=label,
                    group=sweep.name,
                    blind_control=method in blinded,
                    protocol=sweep.protocol,
                    decontaminate=sweep.decontaminate,
                )
                graph.add(_named(plan, method))
    return graph


def _blinded_methods(sweep: SweepConfig) -> set[str]:
    """The curation configs whose runs get a blind control eval."""
    swept = [*([sweep.reference] if sweep.reference else []), *sweep.methods]
    if not sweep.blind_controls:
        return set()
    if sweep.blind_methods is None:
        return set(swept)
    unknown = [m for m in sweep.blind_methods if m not in swept]
    if unknown:
        raise ConfigError(
            f"blind_methods: {', '.join(unknown)} not in the sweep's methods or reference "
            f"({', '.join(swept)})"
        )
    return set(sweep.blind_methods)


def _named(plan: RunPlan, config_name: str) -> RunPlan:
    """Runs are grouped by the curation config they used (e.g. coincide_toyworld)."""
    plan.method = config_name
    return plan


def paired_design(graph: JobGraph) -> dict[str, Any]:
    """What "seed s" means for the runs of a sweep, checked: every run of seed s trains with
    the same settings (training seed, which also seeds the data order, the foundation models,
    the recipe, the step count) and is evaluated alike; only its subset differs. ConfigError
    naming the keys when two runs of one seed would not be."""
    first: dict[int, RunPlan] = {}
    for run in graph.runs:
        seed_first = first.setdefault(run.seed, run)
        settings, expected = _training_settings(run), _training_settings(seed_first)
        if settings != expected:
            keys = ", ".join(differing_keys(expected, settings)[:5])
            raise ConfigError(
                f"seed {run.seed}: '{run.label}' would be trained or evaluated differently from "
                f"'{seed_first.label}' ({keys}); a paired comparison trains every run of a "
                "seed alike"
            )
    return {
        "unit": "seed",
        "same_for_every_run_of_a_seed": [
            "training.seed (initialisation, dropout)",
            "the data-order seed (the sampler's: training.seed)",
            "the training config, foundation models and step count",
            "the evaluation",
        ],
        "differs": "the subset (its method draws with curation.seed = the sweep seed)",
        "training_seed_of": {str(seed): run.training_seed for seed, run in first.items()},
    }


def _training_settings(run: RunPlan) -> dict[str, Any]:
    return {
        "training": training_identity(run.jobs["train"].spec["training"]),
        "evaluation": evaluation_identity(run.jobs["eval"].spec["evaluation"]),
    }


def sweep_dir(sweep: SweepConfig) -> Path:
    return Path(sweep.out_root) / sweep.name


def write_plan(sweep: SweepConfig, graph: JobGraph, resolved: dict[str, Any]) -> Path:
    out = sweep_dir(sweep)
    atomic_write_json(
        out / "plan.json",
        {
            "sweep": resolved,
            "protocol": sweep.protocol,
            "paired_design": paired_design(graph),
            **graph.describe(),
        },
    )
    return out
