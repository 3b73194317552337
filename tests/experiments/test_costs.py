"""Selection cost per run from fake markers and manifests: its selection (the subset
manifest's time) plus its share of the reference and feature jobs it shares with other runs."""

import json
from pathlib import Path

import pytest

from configs.compose import compose, to_object
from curation.data.subset import MANIFEST
from experiments.costs import selection_cost
from experiments.schemas import SweepConfig
from experiments.stages import MARKER
from experiments.sweep import sweep_graph


def _job(tmp_path, stage, key):
    return {"stage": stage, "key": key, "out_dir": str(tmp_path / key), "deps": [], "label": ""}


def _done(job, seconds, device="cpu", key=None, timings=None):
    """A finished job: its marker, and for a subset its manifest with `seconds` as the
    selection's total (the marker then says the whole job took far longer)."""
    out = Path(job["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    marker = {"stage": job["stage"], "key": key or job["key"], "seconds": seconds}
    if job["stage"] == "curate":
        manifest = {"timings_s": timings or {"load_pool": 0.0, "select": 0.0, "total": seconds}}
        if device is not None:
            manifest["device"] = device
        (out / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
        marker["seconds"] = seconds + 100  # imports and W&B logging: not the selection's
    elif device is not None:
        marker["device"] = device
    (out / MARKER).write_text(json.dumps(marker), encoding="utf-8")


@pytest.fixture
def plan(tmp_path):
    """Three runs: two read one reference and two feature shards; one (random) reads neither."""
    jobs = {
        name: _job(tmp_path, stage, name)
        for name, stage in [
            ("pool", "pool"),
            ("ref", "reference"),
            ("f0", "features"),
            ("f1", "features"),
            ("c_a", "curate"),
            ("c_b", "curate"),
            ("c_r", "curate"),
            ("t_a", "train"),
        ]
    }
    shared = {"pool": "pool", "reference": "ref", "features:0": "f0", "features:1": "f1"}
    runs = [
        {"label": "a", "keys": {**shared, "curate": "c_a", "train": "t_a"}},
        {"label": "b", "keys": {**shared, "curate": "c_b"}},
        {"label": "random", "keys": {"pool": "pool", "curate": "c_r"}},
    ]
    return {"jobs": list(jobs.values()), "runs": runs}, jobs


def test_a_run_pays_its_curation_and_its_share_of_shared_jobs(plan):
    plan, jobs = plan
    for name, seconds in [("pool", 5), ("ref", 30), ("f0", 4), ("f1", 6), ("t_a", 99)]:
        _done(jobs[name], seconds)
    for name, seconds in [("c_a", 1.5), ("c_b", 2.5), ("c_r", 0.25)]:
        _done(jobs[name], seconds)
    a = selection_cost(plan, plan["runs"][0])
    assert a == {
        "seconds": 15 + 2 + 3 + 1.5,  # the pool and training are no selection cost
        "device": "cpu",
        "parts": {"reference": 15.0, "features:0": 2.0, "features:1": 3.0, "curate": 1.5},
    }
    assert selection_cost(plan, plan["runs"][1])["seconds"] == 15 + 2 + 3 + 2.5
    assert selection_cost(plan, plan["runs"][2]) == {
        "seconds": 0.25,
        "device": "cpu",
        "parts": {"curate": 0.25},
    }


def test_devices_are_named_in_order_of_the_parts(plan):
    plan, jobs = plan
    _done(jobs["ref"], 30, device="cuda: NVIDIA H200")
    _done(jobs["f0"], 4, device="cuda: NVIDIA H200")
    _done(jobs["f1"], 6, device=None)  # a marker from before devices were recorded
    _done(jobs["c_a"], 1)
    assert selection_cost(plan, plan["runs"][0])["device"] == "cuda: NVIDIA H200 + unknown + cpu"


def test_a_subset_from_before_total_existed_is_timed_by_its_parts(plan):
    plan, jobs = plan
    _done(jobs["c_r"], 0, device=None, timings={"load_pool": 0.5, "select": 0.25})
    assert selection_cost(plan, plan["runs"][2]) == {
        "seconds": 0.75,
        "device": "unknown",
        "parts": {"curate": 0.75},
    }


def test_no_cost_until_every_selection_job_has_finished(plan):
    plan, jobs = plan
    assert selection_cost(plan, plan["runs"][2]) is None  # nothing ran
    _done(jobs["ref"], 30)
    _done(jobs["f0"], 4)
    _done(jobs["c_a"], 1)
    assert selection_cost(plan, plan["runs"][0]) is None  # features:1 missing
    _done(jobs["f1"], 6, key="an-older-plan")  # another job's marker in the same folder
    assert selection_cost(plan, plan["runs"][0]) is None
    _done(jobs["f1"], 6)
    assert selection_cost(plan, plan["runs"][0])["seconds"] == 15 + 2 + 3 + 1
    (Path(jobs["c_a"]["out_dir"]) / MANIFEST).unlink()  # a marker without its subset
    assert selection_cost(plan, plan["runs"][0]) is None


def test_a_real_sweep_plan_shares_the_reference_between_its_readers(tmp_path):
    sweep = to_object(
        compose(
            SweepConfig,
            overrides=[
                "methods=[random,el2n]",
                "seeds=[0,1]",
                "reference=full",
                f"overrides=[store={tmp_path},data.toyworld.pool_size=300]",
            ],
        )
    )
    plan = sweep_graph(sweep).describe()
    for job in plan["jobs"]:
        _done(job, {"reference": 40.0, "curate": 1.0}.get(job["stage"], 7.0))
    costs = {run["label"]: selection_cost(plan, run) for run in plan["runs"]}
    # the reference is read by el2n's two runs only; full and random pay their curation
    assert costs["el2n b0.2 s0"] == {
        "seconds": 21.0,
        "device": "cpu",
        "parts": {"reference": 20.0, "curate": 1.0},
    }
    assert costs["random b0.2 s1"]["seconds"] == costs["full s0"]["seconds"] == 1.0
    readers = [run for run in plan["runs"] if "reference" in run["keys"]]
    assert [run["label"] for run in readers] == ["el2n b0.2 s0", "el2n b0.2 s1"]
    assert len({run["keys"]["reference"] for run in readers}) == 1
