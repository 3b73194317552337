"""W&B logging attaches to the active run: per-task metrics, the table, files as artifacts."""

import json

from evaluation.config import EvalWandbConfig
from evaluation.wandb_log import log_scores, metrics

SCORES = {
    "suite": "toyworld",
    "checkpoint": "/ckpt",
    "tasks": {
        "toyworld_colour": {
            "status": "scored",
            "metric": "score",
            "score": 50.0,
            "head": 60.0,
            "tail": 40.0,
            "n": 4,
            "results": "lmms_eval/c/r.json",
            "samples": "lmms_eval/c/s.jsonl",
        },
        "judged": {
            "status": "unscored",
            "metric": "m",
            "score": None,
            "n": 4,
            "results": "lmms_eval/j/r.json",
            "samples": "lmms_eval/j/s.jsonl",
        },
    },
    "reference": {"score": {"relative_performance": 110.0, "mean_relative_gain": 0.1}},
}


def test_metric_names():
    assert metrics(SCORES) == {
        "eval/toyworld/toyworld_colour/score": 50.0,
        "eval/toyworld/toyworld_colour/head": 60.0,
        "eval/toyworld/toyworld_colour/tail": 40.0,
        "eval/toyworld/relative_performance": 110.0,
        "eval/toyworld/mean_relative_gain": 0.1,
    }


def test_a_blind_runs_metrics_never_mix_with_the_real_ones():
    blind = metrics({**SCORES, "blind": True})
    assert blind["eval/toyworld-blind/toyworld_colour/score"] == 50.0
    assert not set(blind) & set(metrics(SCORES))


def test_logs_into_the_active_run(tmp_path, monkeypatch):
    import wandb

    from training.wandb_env import wandb_env

    run_dir = tmp_path / "eval"
    for entry in SCORES["tasks"].values():
        for key in ("results", "samples"):
            (run_dir / entry[key]).parent.mkdir(parents=True, exist_ok=True)
            (run_dir / entry[key]).write_text("{}\n")
    (run_dir / "scores.json").write_text(json.dumps(SCORES))
    for key, value in wandb_env(tmp_path / "experiment", "offline", environ={}).items():
        monkeypatch.setenv(key, value)
    run = wandb.init(project="vlmdata-test", dir=str(tmp_path / "experiment"))
    try:
        assert log_scores(run_dir, SCORES, EvalWandbConfig()) == run.id
        assert wandb.run is run  # attached, not finished
        assert run.summary["eval/toyworld/toyworld_colour/tail"] == 40.0
        assert run.summary["eval/toyworld/relative_performance"] == 110.0
    finally:
        run.finish()
    assert not (run_dir / "wandb").exists()  # nothing of the experiment's run in the eval dir
    assert log_scores(run_dir, SCORES, EvalWandbConfig(mode="disabled")) is None
