"""The decontaminate stage through the local executor: the job runs after the pool, writes
the clean pool and its marker, and curation reads that pool."""

from __future__ import annotations

import json
from pathlib import Path

from configs.compose import compose, config_path, to_object
from curation.decontaminate.config import DecontaminateConfig
from experiments.executors.local import run_local
from experiments.plan import plan_run
from experiments.sweep import JobGraph, experiment_config

SMALL = ["data.toyworld.pool_size=300", "data.toyworld.benchmark_items_per_skill=20"]
LEAKS = [
    "data.toyworld.leak_exact_images=3",
    "data.toyworld.leak_jittered_images=3",
    "data.toyworld.leak_questions=2",
]


def test_the_local_executor_runs_the_decontaminate_stage(tmp_path: Path) -> None:
    exp = experiment_config(
        "toyworld",
        [f"store={tmp_path}", *SMALL, *LEAKS, "curation=random", "progress=false"],
    )
    preset = to_object(compose(DecontaminateConfig, config_path("decontaminate", "toyworld")))
    run = plan_run(exp, decontaminate=preset)
    graph = JobGraph()
    for stage in ("curate", "decontaminate", "pool"):  # by_stage puts them in order
        graph.jobs[run.jobs[stage].key] = run.jobs[stage]
    markers = run_local(graph, log=lambda line: None)
    job = run.jobs["decontaminate"]
    assert markers[job.key]["stage"] == "decontaminate"
    assert markers[job.key]["summary"]["matched_by_kind"] == {"exact": 3, "near": 3, "text": 2}
    world = Path(run.jobs["pool"].out_dir)
    leaked = {json.loads(line)["id"] for line in (world / "leaks.jsonl").read_text().splitlines()}
    subset = json.loads((Path(run.jobs["curate"].out_dir) / "subset.json").read_text())
    assert subset and not {record["id"] for record in subset} & leaked
    assert run_local(graph, log=lambda line: None)[job.key] == markers[job.key]  # reused
