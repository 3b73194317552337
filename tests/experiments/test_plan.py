"""Content addressing and job-graph shape of runs and sweeps (nothing is executed)."""

import dataclasses
from pathlib import Path

import pytest

from configs.compose import ConfigError, compose, to_object
from curation.data.fileio import sha256_json
from experiments.plan import BLIND_JOB, EVAL_NOT_IN_KEY, _without, plan_run
from experiments.schemas import SweepConfig
from experiments.sweep import experiment_config, sweep_graph


def _exp(tmp_path, *overrides):
    return experiment_config(
        "toyworld", [f"store={tmp_path}", "data.toyworld.pool_size=300", *overrides]
    )


def test_same_config_same_keys_and_dirs(tmp_path):
    a, b = plan_run(_exp(tmp_path)), plan_run(_exp(tmp_path))
    assert {s: j.key for s, j in a.jobs.items()} == {s: j.key for s, j in b.jobs.items()}
    assert [j.out_dir for j in a.jobs.values()] == [j.out_dir for j in b.jobs.values()]
    assert all(j.out_dir.startswith(str(tmp_path)) for j in a.jobs.values())


def test_a_change_invalidates_only_downstream_stages(tmp_path):
    base = plan_run(_exp(tmp_path)).jobs
    lr = plan_run(_exp(tmp_path, "training.optim.lr=0.01")).jobs
    assert base["pool"].key == lr["pool"].key and base["curate"].key == lr["curate"].key
    assert base["train"].key != lr["train"].key and base["eval"].key != lr["eval"].key
    budget = plan_run(_exp(tmp_path, "curation.budget=0.3")).jobs
    assert budget["pool"].key == base["pool"].key
    assert (
        len(
            {budget[s].key for s in ("curate", "train", "eval")}
            & {base[s].key for s in ("curate", "train", "eval")}
        )
        == 0
    )
    world = plan_run(_exp(tmp_path, "data.toyworld.seed=1")).jobs
    assert world["pool"].key != base["pool"].key and world["curate"].key != base["curate"].key


def test_logging_and_output_places_do_not_change_keys(tmp_path):
    base = plan_run(_exp(tmp_path)).jobs
    other = plan_run(
        _exp(
            tmp_path,
            "wandb.mode=disabled",
            "evaluation.model.threads=2",
            "training.trainer.progress_bar=false",
        )
    ).jobs
    assert base["train"].key == other["train"].key


def test_jobs_chain_their_dependencies(tmp_path):
    jobs = plan_run(_exp(tmp_path)).jobs
    assert jobs["curate"].deps == (jobs["pool"].key,)
    assert jobs["train"].deps == (jobs["curate"].key, jobs["foundation"].key)
    assert jobs["eval"].deps == (jobs["train"].key,)
    assert jobs["train"].spec["training"]["subset"] == jobs["curate"].out_dir
    assert jobs["eval"].spec["evaluation"]["checkpoint"].startswith(jobs["train"].out_dir)
    assert jobs["eval"].spec["evaluation"]["data_root"] == jobs["pool"].out_dir


def test_sweep_grid_shares_the_world_and_groups_runs(tmp_path):
    sweep = to_object(
        compose(
            SweepConfig,
            overrides=[
                "methods=[random]",
                "budgets=[0.1,0.2]",
                "seeds=[0,1]",
                "reference=full",
                f"overrides=[store={tmp_path},data.toyworld.pool_size=300]",
            ],
        )
    )
    graph = sweep_graph(sweep)
    labels = [run.label for run in graph.runs]
    assert labels == [
        "full s0",
        "random b0.1 s0",
        "random b0.2 s0",
        "full s1",
        "random b0.1 s1",
        "random b0.2 s1",
    ]
    stages = dict(graph.by_stage())
    assert len(stages["pool"]) == 1 and len(stages["curate"]) == 6 and len(stages["eval"]) == 6
    assert {run.method for run in graph.runs} == {"full", "random"}
    seeds = {run.label: run.jobs["train"].spec["training"]["seed"] for run in graph.runs}
    assert seeds["random b0.2 s1"] == 1 and seeds["full s0"] == 0
    assert all(run.jobs["train"].spec["wandb"]["group"] == "sweep" for run in graph.runs)


def test_budgetless_method_runs_once_per_seed(tmp_path):
    sweep = to_object(
        compose(
            SweepConfig,
            overrides=[
                "methods=[full]",
                "budgets=[0.1,0.2]",
                "seeds=[0]",
                "reference=''",
                f"overrides=[store={tmp_path}]",
            ],
        )
    )
    assert [run.label for run in sweep_graph(sweep).runs] == ["full s0"]


def test_llava_pool_must_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match="data.pool"):
        plan_run(
            experiment_config(
                "toyworld",
                [f"store={tmp_path}", "data.kind=llava", f"data.pool={tmp_path / 'absent.json'}"],
            )
        )


@pytest.mark.parametrize("key", ["data.pool", "data.image_root"])
def test_pool_keys_on_a_generated_world_are_refused_not_ignored(tmp_path, key):
    with pytest.raises(ConfigError, match=f"{key} set, but data=toyworld") as raised:
        plan_run(experiment_config("toyworld", [f"store={tmp_path}", f"{key}={tmp_path}"]))
    assert "data=llava" in str(raised.value) and "\n" not in str(raised.value)


def test_reference_seeds_limit_the_reference_runs(tmp_path):
    sweep = to_object(
        compose(
            SweepConfig,
            overrides=[
                "methods=[random]",
                "seeds=[0,1]",
                "reference=full",
                "reference_seeds=[0]",
                f"overrides=[store={tmp_path}]",
            ],
        )
    )
    assert [run.label for run in sweep_graph(sweep).runs] == [
        "full s0",
        "random b0.2 s0",
        "random b0.2 s1",
    ]


def test_feature_shards_put_the_reference_pass_ahead_of_curation(tmp_path):
    coincide = ["curation=coincide_toyworld", "feature_shards=3"]
    jobs = plan_run(_exp(tmp_path, *coincide)).jobs
    shards = [jobs[f"features:{i}"] for i in range(3)]
    assert jobs["reference"].deps == (jobs["pool"].key, jobs["foundation"].key)
    assert all(job.deps == (jobs["reference"].key,) for job in shards)
    assert [job.spec["shard"] for job in shards] == [0, 1, 2]
    assert jobs["curate"].deps == (
        jobs["pool"].key,
        jobs["reference"].key,
        *(job.key for job in shards),
    )
    assert jobs["curate"].key == plan_run(_exp(tmp_path, coincide[0])).jobs["curate"].key
    checkpoint = jobs["reference"].out_dir + "/hf"
    assert all(job.spec["reference_checkpoint"] == checkpoint for job in [*shards, jobs["curate"]])

    other_seed = plan_run(_exp(tmp_path, *coincide, "curation.seed=7", "curation.budget=0.3"))
    assert {j.key for s, j in jobs.items() if s.startswith(("reference", "features"))} == {
        j.key for s, j in other_seed.jobs.items() if s.startswith(("reference", "features"))
    }, "one reference pass serves every budget and seed"
    unsharded = plan_run(_exp(tmp_path, coincide[0])).jobs
    assert "reference" in unsharded and not any(s.startswith("features") for s in unsharded)
    random = plan_run(_exp(tmp_path, "feature_shards=3")).jobs  # random reads no reference
    assert not any(s.startswith(("reference", "features")) for s in random)


def test_methods_asking_for_the_same_reference_pass_share_its_jobs(tmp_path):
    def pass_jobs(*overrides):
        jobs = plan_run(_exp(tmp_path, "feature_shards=2", *overrides)).jobs
        return {s: j.key for s, j in jobs.items() if s.startswith(("reference", "features"))}

    coincide = pass_jobs("curation=coincide_toyworld")
    assert pass_jobs("curation=el2n") == coincide  # all four kinds, same reference and layers
    fewer_kinds = pass_jobs("curation=coincide_toyworld", "curation.params.extra_kinds=[]")
    assert fewer_kinds["reference"] == coincide["reference"]
    assert fewer_kinds["features:0"] != coincide["features:0"]
    longer = pass_jobs(
        "curation=el2n", "curation.params.reference.training_overrides=[trainer.epochs=2]"
    )
    assert longer["reference"] != coincide["reference"]


REFERENCE_METHODS = (
    "coincide_toyworld",
    "el2n",
    "perplexity",
    "semdedup",
    "d2_pruning",
    "self_sup",
    "self_filter",
    "adr_toyworld",
)


@pytest.mark.parametrize("curation", REFERENCE_METHODS)
def test_a_tiny_reference_is_a_job_of_the_plan_shared_by_every_method(tmp_path, curation):
    jobs = plan_run(_exp(tmp_path, f"curation={curation}")).jobs
    reference = jobs["reference"]
    assert reference.deps == (jobs["pool"].key, jobs["foundation"].key)
    assert reference.key in jobs["curate"].deps
    assert jobs["curate"].spec["reference_checkpoint"] == reference.out_dir + "/hf"
    assert reference.out_dir.startswith(str(tmp_path / "cache" / "reference" / "reference_tiny-"))
    assert reference.spec["training"]["records"] == jobs["pool"].out_dir + "/pool.json"
    el2n = plan_run(_exp(tmp_path, "curation=el2n")).jobs["reference"]
    assert (reference.key, reference.out_dir) == (el2n.key, el2n.out_dir)


def test_a_checkpoint_given_directly_needs_no_reference_job(tmp_path):
    jobs = plan_run(
        _exp(tmp_path, "curation=el2n", f"curation.params.reference.model={tmp_path}")
    ).jobs
    assert "reference" not in jobs
    assert jobs["curate"].spec["reference_checkpoint"] == ""
    adr = plan_run(
        _exp(
            tmp_path,
            "curation=adr_toyworld",
            f"curation.params.synthesis.reference.model={tmp_path}",
        )
    ).jobs
    assert "reference" not in adr


def test_the_world_foundation_is_one_job_that_training_and_the_reference_read(tmp_path):
    jobs = plan_run(_exp(tmp_path, "curation=coincide_toyworld")).jobs
    foundation = jobs["foundation"]
    assert Path(foundation.out_dir).parent == Path(tmp_path).resolve() / "cache" / "foundation"
    for stage in ("train", "reference"):
        assert foundation.key in jobs[stage].deps
        model = jobs[stage].spec["training"]["model"]
        assert (model["kind"], model["foundation"]) == ("assemble", foundation.out_dir)
    assert jobs["reference"].spec["foundation"]["key"] == foundation.key


def test_the_foundation_is_shared_across_pool_sizes_and_keyed_by_its_recipe(tmp_path):
    key = plan_run(_exp(tmp_path)).jobs["foundation"].key
    assert plan_run(_exp(tmp_path, "data.toyworld.pool_size=500")).jobs["foundation"].key == key
    other = plan_run(_exp(tmp_path, "data.foundation.vision.steps=7")).jobs
    assert other["foundation"].key != key
    before = plan_run(_exp(tmp_path)).jobs
    assert other["train"].key != before["train"].key
    assert other["curate"].key == before["curate"].key


def test_a_model_without_the_world_foundation_has_no_foundation_job(tmp_path):
    jobs = plan_run(_exp(tmp_path, "training.model.kind=tiny")).jobs
    assert "foundation" not in jobs


def test_the_world_foundation_needs_a_toyworld_pool(tmp_path):
    pool = tmp_path / "pool.json"
    pool.write_text("[]")
    with pytest.raises(ConfigError, match="model.foundation=world needs data.kind=toyworld"):
        plan_run(_exp(tmp_path, "data.kind=llava", f"data.pool={pool}"))


def test_training_overrides_of_the_reference_are_checked(tmp_path):
    from configs.compose import ConfigError

    with pytest.raises(ConfigError, match="curation.params.reference.training_overrides"):
        plan_run(
            _exp(
                tmp_path,
                "curation=el2n",
                "curation.params.reference.training_overrides=[trainer.epoks=1]",
            )
        )
    with pytest.raises(ConfigError, match="curation.params.reference.training=nope"):
        plan_run(_exp(tmp_path, "curation=el2n", "curation.params.reference.training=nope"))


@pytest.mark.parametrize(
    ("blind_methods", "blinded"),
    [("null", {"full", "random", "random_aa"}), ("[full,random_aa]", {"full", "random_aa"})],
)
def test_blind_methods_choose_which_runs_get_a_blind_control(tmp_path, blind_methods, blinded):
    overrides = [
        "methods=[random,random_aa]",
        "seeds=[0]",
        "blind_controls=true",
        f"blind_methods={blind_methods}",
        f"overrides=[store={tmp_path},data.toyworld.pool_size=300]",
    ]
    graph = sweep_graph(to_object(compose(SweepConfig, overrides=overrides)))
    assert {run.method for run in graph.runs if BLIND_JOB in run.jobs} == blinded


def test_a_blind_method_outside_the_sweep_is_one_line(tmp_path):
    overrides = [
        "methods=[random]",
        "blind_controls=true",
        "blind_methods=[full,coincide]",
        f"overrides=[store={tmp_path}]",
    ]
    with pytest.raises(ConfigError, match=r"^blind_methods: coincide not in the sweep's"):
        sweep_graph(to_object(compose(SweepConfig, overrides=overrides)))


def test_blind_controls_add_one_blind_eval_job_per_run(tmp_path):
    def graph(blind: bool):
        overrides = [
            "methods=[random]",
            "budgets=[0.2]",
            "seeds=[0,1]",
            f"blind_controls={str(blind).lower()}",
            f"overrides=[store={tmp_path},data.toyworld.pool_size=300]",
        ]
        return sweep_graph(to_object(compose(SweepConfig, overrides=overrides)))

    plain, controlled = graph(False), graph(True)
    assert all(BLIND_JOB not in run.jobs for run in plain.runs)
    assert len(dict(plain.by_stage())["eval"]) == 4
    assert len(dict(controlled.by_stage())["eval"]) == 8  # one blind job per run
    for run, before in zip(controlled.runs, plain.runs, strict=True):
        real, blind = run.jobs["eval"], run.jobs[BLIND_JOB]
        assert real.key == before.jobs["eval"].key  # the real evaluation is unchanged
        assert blind.stage == "eval" and blind.deps == real.deps
        assert blind.key != real.key and blind.out_dir != real.out_dir
        assert Path(blind.out_dir).name.startswith("toyworld-blind-")
        evaluation = blind.spec["evaluation"]
        assert evaluation["blind"] is True and real.spec["evaluation"]["blind"] is False
        assert evaluation["checkpoint"] == real.spec["evaluation"]["checkpoint"]
        assert evaluation["out_dir"] == blind.out_dir and blind.label == f"{run.label} (blind)"
        assert run.describe()["dirs"][BLIND_JOB] == blind.out_dir
    blind_keys = [run.jobs[BLIND_JOB].key for run in controlled.runs]
    assert len(set(blind_keys)) == len(blind_keys)


def test_real_eval_keys_are_those_from_before_the_blind_option(tmp_path):
    exp = _exp(tmp_path)
    jobs = plan_run(exp).jobs
    evaluation = dataclasses.asdict(exp.evaluation)
    del evaluation["blind"]  # the option did not exist: finished stages must keep their keys
    before = {"checkpoint": jobs["train"].key, "evaluation": _without(evaluation, EVAL_NOT_IN_KEY)}
    assert jobs["eval"].key == sha256_json(before)
