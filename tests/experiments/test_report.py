"""The sweep report on a hand-made sweep directory: the blind controls' column beside the real
scores ("-" for runs without one), and per task the score ± its binomial SE and the blind score."""

from __future__ import annotations

import json
from pathlib import Path

from experiments.plan import BLIND_JOB
from experiments.report import comparison_table, load_runs, summarise, write_report


def _scores(tmp: Path, name: str, tasks: dict[str, tuple[float, float | None]], blind=False):
    run_dir = tmp / "store" / "eval" / name
    run_dir.mkdir(parents=True)
    document = {
        "suite": "toyworld",
        "blind": blind,
        "tasks": {
            task: {
                "status": "scored",
                "metric": "score",
                "higher_is_better": True,
                "score": score,
                "n": 40,
                "se": se,
            }
            for task, (score, se) in tasks.items()
        },
    }
    (run_dir / "scores.json").write_text(json.dumps(document))
    return str(run_dir)


def _sweep(tmp: Path) -> Path:
    """full (no blind control) and random at 0.2, seeds 0 and 1; random s1's blind eval is
    unfinished, so its blind numbers come from seed 0 alone."""
    real = {
        ("full", 0): {"a": (80.0, 4.0), "b": (60.0, None)},
        ("full", 1): {"a": (82.0, 4.0), "b": (62.0, None)},
        ("random", 0): {"a": (70.0, 4.5), "b": (50.0, None)},
        ("random", 1): {"a": (72.0, 4.3), "b": (52.0, None)},
    }
    blind = {("random", 0): {"a": (30.0, 7.2), "b": (40.0, None)}}
    runs = []
    for (method, seed), tasks in real.items():
        budget = None if method == "full" else 0.2
        label = f"{method}" + ("" if budget is None else " b0.2") + f" s{seed}"
        dirs = {
            "curate": str(tmp / "store" / "subsets" / label),  # absent: no composition
            "eval": _scores(tmp, f"{label}-real", tasks),
        }
        if method == "random":  # planned with a blind control; only seed 0's has finished
            dirs[BLIND_JOB] = str(tmp / "store" / "eval" / f"{label}-blind")
            if (method, seed) in blind:
                _scores(tmp, f"{label}-blind", blind[(method, seed)], blind=True)
        runs.append(
            {"label": label, "method": method, "budget": budget, "seed": seed, "dirs": dirs}
        )
    sweep_dir = tmp / "sweeps" / "fake"
    sweep_dir.mkdir(parents=True)
    plan = {"sweep": {"name": "fake", "reference": "full", "blind_controls": True}, "runs": runs}
    (sweep_dir / "plan.json").write_text(json.dumps(plan))
    return sweep_dir


def test_comparison_table_has_the_blind_column(tmp_path):
    sweep_dir = _sweep(tmp_path)
    text = write_report(sweep_dir).read_text()
    header = next(line for line in text.splitlines() if line.startswith("| method | size"))
    assert header.startswith("| method | size | seeds | overall | blind | head |")
    assert "| full | - | 2 | 71.00 ± 1.00 [70.0..72.0] | - |" in text
    assert "| random @0.2 | - | 2 | 61.00 ± 1.00 [60.0..62.0] | 35.00 |" in text
    assert "blind: the same checkpoints scored with every image replaced by a grey one" in text
    assert text.endswith("## Unfinished runs\n\n- random b0.2 s1 (blind)\n")


def test_per_task_table_has_score_se_and_blind(tmp_path):
    text = write_report(_sweep(tmp_path)).read_text()
    assert "| method | a | blind | b | blind |" in text
    assert "| full | 81.00 ± 4.00 | - | 61.00 | - |" in text
    assert "| random @0.2 | 71.00 ± 4.40 | 30.00 | 51.00 | 40.00 |" in text
    assert "binomial standard error of one evaluation" in text and "not the spread" in text
    summary = json.loads((tmp_path / "sweeps" / "fake" / "report" / "summary.json").read_text())
    random = next(row for row in summary["rows"] if row["method"] == "random")
    assert random["tasks_se"]["a"] == 4.4 and random["tasks_blind"]["b"]["mean"] == 40.0


def test_no_blind_column_in_a_sweep_without_blind_controls(tmp_path):
    sweep_dir = _sweep(tmp_path)
    plan = json.loads((sweep_dir / "plan.json").read_text())
    for run in plan["runs"]:
        run["dirs"].pop(BLIND_JOB, None)
    (sweep_dir / "plan.json").write_text(json.dumps(plan))
    rows = summarise(*load_runs(sweep_dir))
    assert "blind" not in comparison_table(rows)
    text = write_report(sweep_dir).read_text()
    assert "| method | a | b |" in text and "blind" not in text
