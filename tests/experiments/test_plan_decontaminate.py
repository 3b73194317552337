"""The sweep option `decontaminate`: one job after the pool writes the clean pool, and every
curation-side job of every run reads it (the job graph, and the job's work on a ToyWorld)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from configs.compose import compose, to_object
from experiments.plan import STAGES, plan_run, run_decontaminate
from experiments.schemas import SweepConfig
from experiments.stages import execute
from experiments.sweep import experiment_config, sweep_graph

SMALL = ["data.toyworld.pool_size=300", "data.toyworld.benchmark_items_per_skill=20"]
LEAKS = [
    "data.toyworld.leak_exact_images=3",
    "data.toyworld.leak_jittered_images=3",
    "data.toyworld.leak_questions=2",
]


def _sweep(tmp_path: Path, *extra: str, runs: tuple[str, ...] = ()) -> SweepConfig:
    every_run = ",".join([f"store={tmp_path}", *SMALL, *runs])
    overrides = ["methods=[random,coincide_toyworld]", "seeds=[0]", f"overrides=[{every_run}]"]
    return to_object(compose(SweepConfig, overrides=[*overrides, *extra]))


def test_off_by_default_and_the_plan_is_unchanged(tmp_path: Path) -> None:
    sweep = _sweep(tmp_path)
    assert sweep.decontaminate.suite == ""
    graph = sweep_graph(sweep)
    assert not [job for job in graph.jobs.values() if job.stage == "decontaminate"]
    exp = experiment_config("toyworld", [f"store={tmp_path}", *SMALL])
    plain = plan_run(exp)
    assert {s: j.key for s, j in plan_run(exp, decontaminate=sweep.decontaminate).jobs.items()} == {
        s: j.key for s, j in plain.jobs.items()
    }


def test_one_job_after_the_pool_feeds_every_curation_job(tmp_path: Path) -> None:
    plain = sweep_graph(_sweep(tmp_path))
    graph = sweep_graph(_sweep(tmp_path, "decontaminate=toyworld"))
    stages = dict(graph.by_stage())
    assert STAGES.index("decontaminate") == STAGES.index("pool") + 1
    (job,) = stages["decontaminate"]
    (pool,) = stages["pool"]
    assert job.deps == (pool.key,)
    assert job.out_dir.startswith(str(tmp_path / "decontaminated" / "toyworld-"))
    assert job.spec["decontaminate"]["data_root"] == pool.out_dir  # the world's benchmarks
    assert job.spec["pool"] == f"{pool.out_dir}/pool.json"
    clean = f"{job.out_dir}/pool.json"
    curation_side = [j for s in ("reference", "features", "curate") for j in stages.get(s, [])]
    assert curation_side and all(j.spec.get("pool", clean) == clean for j in curation_side)
    for reference in stages["reference"]:
        assert reference.spec["training"]["records"] == clean
        assert reference.spec["training"]["image_root"] == pool.out_dir
    for curate in stages["curate"]:
        assert curate.spec["image_root"] == pool.out_dir
        assert job.key in curate.deps
    for run in graph.runs:
        assert run.jobs["eval"].spec["evaluation"]["data_root"] == pool.out_dir
    # every curation key moves (another pool); the world and the foundation do not
    keys = {j.key for j in plain.jobs.values()}
    assert pool.key in keys and all(c.key not in keys for c in stages["curate"])
    assert all(f.key in keys for f in stages["foundation"])


def test_thresholds_and_suite_enter_the_key_reporting_does_not(tmp_path: Path) -> None:
    def key(*extra: str) -> str:
        graph = sweep_graph(_sweep(tmp_path, "decontaminate=toyworld", *extra))
        return next(j.key for j in graph.jobs.values() if j.stage == "decontaminate")

    base = key()
    assert key("decontaminate.examples=50", "decontaminate.batch_rows=8") == base
    assert key("decontaminate.near.max_pixel_difference=5.0") != base
    assert key("decontaminate.kinds=[exact]") != base


@pytest.mark.slow
def test_the_job_writes_the_pool_that_curation_then_reads(tmp_path: Path) -> None:
    exp = experiment_config(
        "toyworld",
        [f"store={tmp_path}", *SMALL, *LEAKS, "curation=full", "progress=false"],
    )
    sweep = _sweep(tmp_path, "decontaminate=toyworld")
    jobs = plan_run(exp, decontaminate=sweep.decontaminate).jobs
    world = Path(execute(jobs["pool"])["summary"]["world"])
    summary = run_decontaminate(jobs["decontaminate"].spec, jobs["decontaminate"].out_dir)
    assert summary["matched_by_kind"] == {"exact": 3, "near": 3, "text": 2}
    execute(jobs["curate"])
    subset = json.loads((Path(jobs["curate"].out_dir) / "subset.json").read_text())
    leaked = {json.loads(line)["id"] for line in (world / "leaks.jsonl").read_text().splitlines()}
    ids = {record["id"] for record in subset}
    assert len(ids) == 300 and not ids & leaked
