"""Real benchmarks through lmms-eval's own task code, on local fixtures, offline."""

import json

import pytest

from evaluation.run import run_eval
from evaluation.suites import eval_config

# the benchmark's own metric keys, as its lmms-eval task reports them
OWN_METRICS = {
    "pope": {"pope_accuracy", "pope_precision", "pope_recall", "pope_f1_score", "pope_yes_ratio"},
    "gqa": {"exact_match"},
    "scienceqa_img": {"exact_match"},
    "mme": {"mme_perception_score", "mme_cognition_score"},
    "textvqa_val": {"exact_match", "submission"},
    "mmbench_en_dev": {"gpt_eval_score"},
    "mmbench_cn_dev": {"gpt_eval_score"},
    "ok_vqa_val2014": {"exact_match", "submission"},
}
JUDGED = {"llava_in_the_wild", "mmvet"}
# scores that are a mean of 0..1 items, so scores.json has their binomial SE (the others: null)
WITH_SE = {"gqa", "scienceqa_img", "textvqa_val", "ok_vqa_val2014"}


@pytest.mark.slow
def test_real_tasks_offline(tiny_checkpoint, real_data_root, tmp_path, no_network, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    common = [
        f"checkpoint={tiny_checkpoint}",
        f"data_root={real_data_root}",
        "gen_kwargs=max_new_tokens=8",
        "wandb.mode=disabled",
    ]
    coincide = [t for t in [*OWN_METRICS, *JUDGED] if t != "ok_vqa_val2014"]
    runs = [
        run_eval(
            eval_config(
                [
                    "suite=coincide12",
                    f"only=[{','.join(coincide)}]",
                    f"out_dir={tmp_path / 'coincide12'}",
                    *common,
                ]
            )
        ),
        run_eval(
            eval_config(
                ["suite=adr11", "only=[ok_vqa_val2014]", f"out_dir={tmp_path / 'adr11'}", *common]
            )
        ),
    ]
    tasks = {
        name: (run.run_dir, entry) for run in runs for name, entry in run.scores["tasks"].items()
    }
    assert set(tasks) == set(OWN_METRICS) | JUDGED
    for name, (run_dir, entry) in tasks.items():
        results = json.loads((run_dir / entry["results"]).read_text())
        config = results["configs"][entry["lmms_task"]]
        assert config["dataset_path"] == "parquet"  # local data, not the hub
        reported = {
            key.split(",")[0]
            for key in results["results"][entry["lmms_task"]]
            if key.endswith(",none") and "_stderr" not in key
        }
        samples = (run_dir / entry["samples"]).read_text().splitlines()
        assert samples, name
        if name in JUDGED:
            assert entry["status"] == "unscored" and entry["score"] is None
            assert reported == {"bypass"} and "no judge configured" in entry["note"]
        else:
            assert OWN_METRICS[name] <= reported, (name, reported)
            assert entry["status"] == "scored" and entry["score"] is not None
        assert (entry["se"] is not None) == (name in WITH_SE), name
    mme = tasks["mme"][1]
    assert 0 <= mme["score"] <= 2 * 100 * 2  # two perception categories, acc + acc+ each
    assert "rule-based" in tasks["mmbench_cn_dev"][1]["note"]
    table = (runs[0].run_dir / "scores.md").read_text()
    assert "| mmvet | gpt_eval_score | unscored |" in table
