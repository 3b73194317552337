"""The comparison's design in the plan: paired seeds, the A/A and oracle controls, the
training protocol (epochs | steps), and subset keys that did not move when these came."""

import dataclasses
import json

import pytest

from configs.compose import ConfigError, compose, compose_node, to_object
from curation.data.fileio import sha256_json
from experiments.plan import plan_run
from experiments.schemas import SweepConfig
from experiments.sweep import experiment_config, paired_design, sweep_graph, write_plan
from training.batches import plan_batches
from training.config import TrainingConfig

POOL = 300  # tiny.yaml: batch 16, 3 epochs -> 19 steps an epoch over the whole pool


def _sweep(tmp_path, *overrides, methods="[random,random_aa,oracle_toyworld,el2n]"):
    return to_object(
        compose(
            SweepConfig,
            overrides=[
                f"methods={methods}",
                "budgets=[0.2]",
                "seeds=[0,1]",
                "reference=full",
                f"overrides=[store={tmp_path},data.toyworld.pool_size={POOL}]",
                f"out_root={tmp_path / 'sweeps'}",
                *overrides,
            ],
        )
    )


def _by_label(graph):
    return {run.label: run for run in graph.runs}


def test_every_run_of_a_seed_trains_from_the_same_seed_and_data_order(tmp_path):
    graph = sweep_graph(_sweep(tmp_path))
    for seed in (0, 1):
        runs = [run for run in graph.runs if run.seed == seed]
        assert len(runs) == 5  # full + four arms
        for run in runs:
            described = run.describe()
            assert described["training_seed"] == described["data_order_seed"] == seed
            assert run.jobs["train"].spec["training"]["seed"] == seed
        train = [run.jobs["train"].spec["training"] for run in runs]
        # the subset is the one thing that differs
        assert len({run.jobs["curate"].key for run in runs}) == 5
        assert all(t["model"] == train[0]["model"] and t["loader"]["shuffle"] for t in train)
    design = paired_design(graph)
    assert design["training_seed_of"] == {"0": 0, "1": 1}


def test_a_run_that_would_train_differently_breaks_the_pairing(tmp_path):
    graph = sweep_graph(_sweep(tmp_path, methods="[random]"))
    graph.runs[1].jobs["train"].spec["training"]["seed"] = 7  # random s0, after full s0
    with pytest.raises(ConfigError, match=r"seed 0: 'random b0.2 s0' .*\(training.seed\)"):
        paired_design(graph)


def test_controls_are_marked_in_the_plan(tmp_path):
    runs = _by_label(sweep_graph(_sweep(tmp_path)))
    controls = {label: run.describe()["control"] for label, run in runs.items()}
    assert controls["random b0.2 s0"] == controls["el2n b0.2 s0"] == controls["full s0"] == ""
    assert controls["random_aa b0.2 s0"] == "aa"
    assert controls["oracle_toyworld b0.2 s1"] == "oracle"
    assert runs["random_aa b0.2 s0"].method == "random_aa"  # grouped by its config's name


def test_the_oracle_is_a_control_whatever_the_config_says(tmp_path):
    base = [f"store={tmp_path}", "data.toyworld.pool_size=300", "curation=oracle_toyworld"]
    plan = plan_run(experiment_config("toyworld", [*base, "curation.control=''"]))
    assert plan.control == "oracle"
    with pytest.raises(ConfigError, match="curation.control=aa: method=oracle is the oracle"):
        plan_run(experiment_config("toyworld", [*base, "curation.control=aa"]))


def test_the_aa_arm_draws_its_own_subsets_and_trains_like_random(tmp_path):
    runs = _by_label(sweep_graph(_sweep(tmp_path, methods="[random,random_aa]")))
    for seed in (0, 1):
        main, aa = runs[f"random b0.2 s{seed}"], runs[f"random_aa b0.2 s{seed}"]
        assert main.jobs["curate"].key != aa.jobs["curate"].key
        assert aa.jobs["curate"].spec["curation"]["params"]["stream"] == "aa"
        assert aa.jobs["curate"].spec["curation"]["seed"] == seed
        assert main.training_seed == aa.training_seed == seed


def test_subset_keys_did_not_move_when_streams_and_controls_came(tmp_path):
    """A store curated before `params.stream` and `control` existed is reused: the keys of a
    main-stream, uncontrolled subset are those of the old identity."""
    run = sweep_graph(_sweep(tmp_path, methods="[random]")).runs[1]
    pool_key = run.jobs["pool"].key
    old = sha256_json(
        {
            "pool": pool_key,
            "curation": {"method": "random", "budget": 0.2, "seed": 0, "params": {"match": ""}},
            "on_error": "raise",
        }
    )
    assert run.label == "random b0.2 s0" and run.jobs["curate"].key == old


def test_steps_protocol_trains_every_subset_for_the_full_pools_steps(tmp_path):
    epochs = _by_label(sweep_graph(_sweep(tmp_path, methods="[random]")))
    steps = _by_label(sweep_graph(_sweep(tmp_path, "protocol=steps", methods="[random]")))
    full_pool = 19 * 3
    exp_training = epochs["full s0"].jobs["train"].spec["training"]
    assert exp_training["trainer"]["max_steps"] == -1  # epochs: the configured 3 epochs
    for label in ("random b0.2 s0", "full s0"):
        assert steps[label].jobs["train"].spec["training"]["trainer"]["max_steps"] == full_pool
        # the subsets are the same; what trains on them is keyed apart
        assert steps[label].jobs["curate"].key == epochs[label].jobs["curate"].key
        assert steps[label].jobs["train"].key != epochs[label].jobs["train"].key
        assert steps[label].jobs["eval"].key != epochs[label].jobs["eval"].key
    # under epochs, the 20% subset (60 records) takes 4 steps an epoch

    cfg = compose_node(TrainingConfig, exp_training, "training")
    assert plan_batches(cfg, 60).total_steps == 12
    assert plan_batches(cfg, POOL).total_steps == full_pool


def test_steps_protocol_is_keyed_even_when_max_steps_is_set(tmp_path):
    fixed = (
        f"overrides=[store={tmp_path},data.toyworld.pool_size={POOL},training.trainer.max_steps=5]"
    )
    graphs = [
        sweep_graph(_sweep(tmp_path, f"protocol={protocol}", fixed, methods="[random]"))
        for protocol in ("epochs", "steps")
    ]
    trained = [g.runs[1].jobs["train"] for g in graphs]
    assert [t.spec["training"]["trainer"]["max_steps"] for t in trained] == [5, 5]
    assert trained[0].key != trained[1].key


def test_steps_protocol_counts_a_llava_pools_records(tmp_path, pool_file):
    path, records = pool_file  # 10 records
    exp = experiment_config(
        "toyworld",
        [
            f"store={tmp_path}",
            "data.kind=llava",
            f"data.pool={path}",
            "training=tiny",
            "training.model.foundation=''",
            "training.model.kind=tiny",
            "training.loader.per_device_batch_size=2",
            "training.trainer.global_batch_size=2",
            "training.trainer.epochs=2",
        ],
    )
    plan = plan_run(exp, protocol="steps")
    assert len(records) == 10
    assert plan.jobs["train"].spec["training"]["trainer"]["max_steps"] == 5 * 2


def test_plan_json_records_the_protocol_and_the_design(tmp_path):
    sweep = _sweep(tmp_path, "protocol=steps", methods="[random,random_aa]")
    graph = sweep_graph(sweep)
    out = write_plan(sweep, graph, dataclasses.asdict(sweep))
    plan = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    assert plan["protocol"] == "steps" and plan["sweep"]["protocol"] == "steps"
    assert plan["paired_design"]["unit"] == "seed"
    assert plan["paired_design"]["training_seed_of"] == {"0": 0, "1": 1}
    controls = {run["label"]: run["control"] for run in plan["runs"]}
    assert controls == {
        "full s0": "",
        "random b0.2 s0": "",
        "random_aa b0.2 s0": "aa",
        "full s1": "",
        "random b0.2 s1": "",
        "random_aa b0.2 s1": "aa",
    }
    assert {run["training_seed"] for run in plan["runs"] if run["seed"] == 1} == {1}
