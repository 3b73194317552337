"""Per-run task YAMLs: the real definition, this run's data, judge handling."""

import pytest

from evaluation.materialize import materialize_task, read_task_yaml
from evaluation.suites import eval_config


def spec_of(cfg, name):
    return next(t for t in cfg.tasks if t.name == name)


def test_toyworld_task_points_at_the_world(toyworld_bench_root, tmp_path):
    cfg = eval_config(["suite=toyworld", f"data_root={toyworld_bench_root}"])
    task = materialize_task(cfg, spec_of(cfg, "toyworld_colour"), tmp_path)
    assert task.lmms_name == "toyworld_colour" and not task.predict_only
    config = read_task_yaml(task.yaml_path)
    assert config["task"] == "toyworld_colour"
    assert config["dataset_kwargs"]["data_files"] == {
        "test": str(toyworld_bench_root / "benchmarks" / "colour.parquet")
    }
    assert [m["metric"] for m in config["metric_list"]] == ["score", "score_head", "score_tail"]


def test_builtin_task_is_renamed_and_reads_local_parquet(real_data_root, tmp_path):
    cfg = eval_config(["suite=coincide12", f"data_root={real_data_root}"])
    task = materialize_task(cfg, spec_of(cfg, "pope"), tmp_path)
    assert task.lmms_name == "vlmdata_pope"  # a local task may not reuse a built-in name
    config = read_task_yaml(task.yaml_path)
    assert config["dataset_path"] == "parquet" and config["dataset_name"] is None
    files = f"{real_data_root}/pope/**/test*.parquet"
    assert config["dataset_kwargs"] == {"data_files": {"test": files}}
    assert config["generation_kwargs"]["max_new_tokens"] == 128  # the benchmark's own settings
    gqa = materialize_task(cfg, spec_of(cfg, "gqa"), tmp_path)
    assert (
        "process_docs: !function evaluation.tasks.local_docs.gqa_with_images"
        in gqa.yaml_path.read_text()
    )


def test_hub_mode_keeps_the_hub_dataset(tmp_path):
    cfg = eval_config(["suite=coincide12"])
    config = read_task_yaml(materialize_task(cfg, spec_of(cfg, "pope"), tmp_path).yaml_path)
    assert config["dataset_path"] == "lmms-lab-encoder/POPE"


def test_judges(tmp_path):
    cfg = eval_config(["suite=coincide12"])
    mmvet = materialize_task(cfg, spec_of(cfg, "mmvet"), tmp_path)
    assert mmvet.predict_only and "no judge configured" in mmvet.note
    mmbench = materialize_task(cfg, spec_of(cfg, "mmbench_cn_dev"), tmp_path)
    assert not mmbench.predict_only
    assert "aggregation: !function evaluation.tasks.judge_free.mmbench_cn_dev_static" in (
        mmbench.yaml_path.read_text()
    )
    judged = eval_config(["suite=coincide12", "judge=api"])
    assert not materialize_task(judged, spec_of(judged, "mmvet"), tmp_path).predict_only
    en = materialize_task(judged, spec_of(judged, "mmbench_en_dev"), tmp_path)
    assert "metric_list" not in en.yaml_path.read_text()  # the judge-backed original


def test_missing_local_data_names_the_path(tmp_path):
    cfg = eval_config(["suite=coincide12", f"data_root={tmp_path}"])
    with pytest.raises(FileNotFoundError, match=r"task 'pope': no local data at .*pope/\*\*/test"):
        materialize_task(cfg, spec_of(cfg, "pope"), tmp_path)
    cfg = eval_config(["suite=coincide12", f"data_root={tmp_path / 'nowhere'}"])
    with pytest.raises(FileNotFoundError, match="data_root is not a directory"):
        materialize_task(cfg, spec_of(cfg, "pope"), tmp_path)
