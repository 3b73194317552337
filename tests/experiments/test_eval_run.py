"""`vlmdata eval` end to end on a tiny exported checkpoint, offline."""

import json

import pytest

from evaluation.run import run_eval
from evaluation.suites import eval_config
from experiments.cli import main

SKILLS = ("colour", "shape", "counting", "existence", "spatial", "multiple_choice", "caption")

# The tiny model runs in-process: one torch thread, as in tests/evaluation.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.slow
def test_toyworld_suite_from_the_cli(
    tiny_checkpoint, toyworld_bench_root, tmp_path, capsys, no_network
):
    out = tmp_path / "run"
    code = main(
        [
            "eval",
            f"checkpoint={tiny_checkpoint}",
            "suite=toyworld",
            f"data_root={toyworld_bench_root}",
            f"out_dir={out}",
            "limit=6",
            "wandb.mode=offline",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "| toyworld_caption | score |" in printed and "7 task(s) run" in printed

    scores = json.loads((out / "scores.json").read_text())
    assert scores["suite"] == "toyworld" and scores["limit"] == 6
    assert list(scores["tasks"]) == [f"toyworld_{s}" for s in SKILLS]
    for name, entry in scores["tasks"].items():
        assert entry["status"] == "scored" and entry["metric"] == "score" and entry["n"] == 6
        for part in ("score", "head", "tail"):
            assert 0.0 <= entry[part] <= 100.0, (name, part)
        results = json.loads((out / entry["results"]).read_text())
        reported = results["results"][entry["lmms_task"]]
        assert {"score,none", "score_head,none", "score_tail,none"} <= set(reported)
        assert entry["raw"] * 100 == pytest.approx(entry["score"])
        samples = (out / entry["samples"]).read_text().splitlines()
        assert len(samples) == 6 and "filtered_resps" in json.loads(samples[0])
    assert (out / "config.yaml").is_file() and (out / "scores.md").is_file()
    offline_runs = list((out / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(offline_runs) == 1  # logged to W&B offline, inside the run directory

    # same inputs: every task is kept; a changed input (limit) runs again
    cfg = eval_config(
        [
            f"checkpoint={tiny_checkpoint}",
            "suite=toyworld",
            "limit=6",
            f"data_root={toyworld_bench_root}",
            f"out_dir={out}",
            "wandb.mode=disabled",
        ]
    )
    again = run_eval(cfg)
    assert again.evaluated == [] and len(again.reused) == 7
    assert again.scores["tasks"] == scores["tasks"]
    cfg.limit, cfg.only = 3, ["toyworld_colour"]
    changed = run_eval(cfg)
    assert changed.evaluated == ["toyworld_colour"]
    assert changed.scores["tasks"]["toyworld_colour"]["n"] == 3
