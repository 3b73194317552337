"""The shipped suites name real lmms-eval tasks, with metrics those tasks report."""

import pytest

from configs.compose import ConfigError
from evaluation.config import TaskSpec
from evaluation.errors import EvalError
from evaluation.materialize import read_task_yaml
from evaluation.suites import (
    eval_config,
    installed_task_index,
    selected_tasks,
    suite_names,
    task_yaml,
)

ADR11 = [
    "ok_vqa_val2014",
    "seedbench_2",
    "qbench2_dev",
    "mmstar",
    "mme",
    "scienceqa_img",
    "mmmu_val",
    "textvqa_val",
    "gqa",
    "mmbench_en_dev",
    "vqav2_val",
]
COINCIDE12 = [
    "vqav2_val",
    "gqa",
    "vizwiz_vqa_val",
    "scienceqa_img",
    "textvqa_val",
    "pope",
    "mme",
    "mmbench_en_dev",
    "mmbench_cn_dev",
    "seedbench",
    "llava_in_the_wild",
    "mmvet",
]


def test_paper_suites_have_the_papers_tasks():
    assert {"adr11", "coincide12", "toyworld"} <= set(suite_names())
    assert [t.name for t in eval_config(["suite=adr11"]).tasks] == ADR11
    assert [t.name for t in eval_config(["suite=coincide12"]).tasks] == COINCIDE12
    toyworld = eval_config(["suite=toyworld"])
    assert [t.name for t in toyworld.tasks] == [
        f"toyworld_{s}"
        for s in (
            "colour",
            "shape",
            "counting",
            "existence",
            "spatial",
            "multiple_choice",
            "caption",
        )
    ]


@pytest.mark.slow  # lmms-eval's own task index takes ~10 s
def test_every_suite_task_exists_in_the_installed_lmms_eval():
    installed = set(installed_task_index())  # lmms-eval's TaskManager index
    for suite in suite_names():
        for spec in eval_config([f"suite={suite}"]).tasks:
            if spec.yaml:  # ours: must not be shadowed by a built-in of the same name
                assert spec.name not in installed, spec.name
            else:
                assert spec.name in installed, f"{suite}: {spec.name}"


@pytest.mark.parametrize("suite", ["adr11", "coincide12", "toyworld"])
def test_every_primary_metric_is_one_the_task_reports(suite):
    for spec in eval_config([f"suite={suite}"]).tasks:
        config = read_task_yaml(task_yaml(spec))
        metrics = {m["metric"]: m.get("higher_is_better", True) for m in config["metric_list"]}
        assert metrics.get(spec.metric) == spec.higher_is_better, f"{spec.name}: {spec.metric}"
        if spec.judge == "fallback":
            assert spec.static_aggregation


def test_only_picks_tasks_and_rejects_strangers():
    cfg = eval_config(["suite=coincide12", "only=[pope,gqa]"])
    assert [t.name for t in selected_tasks(cfg)] == ["gqa", "pope"]  # suite order
    with pytest.raises(EvalError, match="'only': popee not in suite 'coincide12'"):
        selected_tasks(eval_config(["suite=coincide12", "only=[popee]"]))


def test_suite_choice_errors_are_one_line():
    with pytest.raises(ConfigError, match="'suite' is required"):
        eval_config(["checkpoint=x"])
    with pytest.raises(ConfigError, match="unknown suite 'adr12'; choices: .*adr11"):
        eval_config(["suite=adr12"])
    with pytest.raises(ConfigError, match="unknown config key 'limt'"):
        eval_config(["suite=adr11", "limt=3"])


@pytest.mark.slow  # an unknown name is looked up in lmms-eval's full index (cached per session)
def test_unknown_task_name_suggests_the_close_ones():
    with pytest.raises(EvalError, match="unknown lmms-eval task 'popee'; did you mean pope"):
        task_yaml(TaskSpec(name="popee", metric="x"))


def test_task_yaml_by_absolute_path_or_in_a_user_tasks_folder(tmp_path, monkeypatch):
    from configs.compose import CONFIG_PATH_ENV

    own = tmp_path / "elsewhere" / "mine.yaml"
    own.parent.mkdir()
    own.write_text("task: mine\n")
    assert task_yaml(TaskSpec(name="mine", metric="m", yaml=str(own))) == own
    user = tmp_path / "user"
    (user / "tasks" / "toyworld").mkdir(parents=True)
    shadow = user / "tasks" / "toyworld" / "toyworld_colour.yaml"
    shadow.write_text("task: toyworld_colour\n")
    (user / "tasks" / "ours.yaml").write_text("task: ours\n")
    monkeypatch.setenv(CONFIG_PATH_ENV, str(user))
    spec = TaskSpec(name="toyworld_colour", metric="score", yaml="toyworld/toyworld_colour.yaml")
    assert task_yaml(spec) == shadow  # the user's folder comes first
    assert (
        task_yaml(TaskSpec(name="ours", metric="m", yaml="ours.yaml"))
        == user / "tasks" / "ours.yaml"
    )
    with pytest.raises(EvalError, match=r"yaml 'gone.yaml' not found under .*user/tasks, "):
        task_yaml(TaskSpec(name="gone", metric="m", yaml="gone.yaml"))
    with pytest.raises(EvalError, match="not found under"):
        task_yaml(TaskSpec(name="gone", metric="m", yaml=str(tmp_path / "gone.yaml")))


def test_a_user_suite_is_a_choice(tmp_path, monkeypatch):
    from configs.compose import CONFIG_PATH_ENV

    (tmp_path / "evaluation").mkdir()
    (tmp_path / "evaluation" / "mysuite.yaml").write_text(
        "suite: mysuite\ntasks:\n  - {name: mine, metric: exact_match, yaml: /x/mine.yaml}\n"
    )
    monkeypatch.setenv(CONFIG_PATH_ENV, str(tmp_path))
    assert "mysuite" in suite_names() and "toyworld" in suite_names()
    assert [t.name for t in eval_config(["suite=mysuite"]).tasks] == ["mine"]
    with pytest.raises(ConfigError, match=r"unknown suite 'nope'; choices: .*mysuite"):
        eval_config(["suite=nope"])
