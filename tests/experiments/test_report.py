"""The sweep report on hand-made sweep directories: the blind controls' column beside the real
scores ("-" for runs without one), per task the score ± its binomial SE and the blind score; and
on sweeps with per-item samples whose Δ is known by construction, the paired comparisons that
lead the report, the controls section and the figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from experiments.plan import BLIND_JOB
from experiments.report import comparison_table, load_runs, ranked, summarise, write_report


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
        run = {"label": label, "method": method, "budget": budget, "seed": seed, "dirs": dirs}
        runs.append({**run, "keys": {}})
    sweep_dir = tmp / "sweeps" / "fake"
    sweep_dir.mkdir(parents=True)
    sweep = {"name": "fake", "reference": "full", "blind_controls": True}
    plan = {"sweep": sweep, "jobs": [], "runs": runs}
    (sweep_dir / "plan.json").write_text(json.dumps(plan))
    return sweep_dir


def test_comparison_table_has_the_blind_column(tmp_path):
    sweep_dir = _sweep(tmp_path)
    text = write_report(sweep_dir).read_text()
    header = next(line for line in text.splitlines() if line.startswith("| method | Δ"))
    assert header.startswith("| method | Δ vs random [95% CI] | P(Δ>0) | Δ vs full [95% CI] |")
    assert "| seeds | overall | blind | head |" in header
    assert "| full | - | - | - | - | 2 | 71.00 ± 1.00 [70.0..72.0] | - |" in text
    # no samples files: no paired comparison, and the notes say why
    assert (
        "| random @0.2 | baseline | - | n/a | - | 2 | 61.00 ± 1.00 [60.0..62.0] | 35.00 |" in text
    )
    assert "- random @0.2 vs full: this arm has no per-item scores (seed 0: " in text
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
    assert "| method | a | b |" in text and "blind" not in text.replace(str(tmp_path), "")


def _items(shift: float = 0.0, seed: int = 0) -> dict[str, list[float]]:
    """Two tasks of 0/1 items that differ by seed, every item shifted by `shift`."""
    rng = np.random.default_rng(200 + seed)
    return {
        task: [float(v) + shift for v in rng.random(n) < 0.6]
        for task, n in (("colour", 30), ("count", 20))
    }


def _arm(shift: float = 0.0, seeds=(0, 1, 2)) -> dict:
    return {s: _items(shift, s) for s in seeds}


def _table_rows(text: str, heading: str) -> dict[str, list[str]]:
    """name -> cells of the first table after `heading`."""
    lines = text.split(heading, 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| "))
    found = {}
    for line in lines[start + 2 :]:
        if not line.startswith("| "):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        found[cells[0]] = cells[1:]
    return found


CONTROLLED = {
    ("full", None, ""): _arm(0.3),
    ("random", 0.2, ""): _arm(),
    ("same", 0.2, ""): _arm(),  # identical to random
    ("better", 0.2, ""): _arm(1.0),  # +1 on every item of every seed
    ("random", 0.2, "aa"): _arm(),
    ("oracle", 0.2, "oracle"): _arm(0.2),
}


def test_the_comparison_leads_with_delta_vs_random_and_marks_intervals_excluding_zero(
    paired_sweep,
):
    text = write_report(paired_sweep(CONTROLLED)).read_text()
    table = _table_rows(text, "## Comparison")
    assert table["same @0.2"][:2] == ["+0.00 [+0.00, +0.00]", "0.00"]  # covers 0: unmarked
    assert table["better @0.2"][:2] == ["+100.00 [+100.00, +100.00] *", "1.00"]
    assert table["random @0.2"][:3] == ["baseline", "-", "-30.00 [-30.00, -30.00] *"]
    assert table["full"][:3] == ["-", "-", "-"]
    assert "marks an interval that excludes 0" in text
    assert "not corrected for multiple comparisons" in text
    # the controls are in their own section, never among the methods
    assert not [name for name in table if "A/A" in name or "oracle" in name]
    controls = _table_rows(text, "## Controls")
    assert controls["oracle (ground truth) @0.2"][0] == "+20.00 [+20.00, +20.00] *"
    assert "- random (A/A) @0.2: Δ vs random +0.00 [+0.00, +0.00] covers 0" in text
    assert "not trustworthy" not in text
    assert "- oracle (ground truth) @0.2 (positive control, never ranked)" in text
    assert "above 0: the instrument detects a gain of this size" in text
    # the half-widths: every interval here is degenerate
    assert "better @0.2 0.00" in text and "largest 0.00." in text
    deltas = _table_rows(text, "## Δ vs random per part and task")
    assert (
        deltas["better @0.2"] == ["+100.00 [+100.00, +100.00] *"] * 5
    )  # overall head tail 2 tasks


def test_an_aa_interval_excluding_zero_makes_the_report_say_so_in_bold(paired_sweep):
    arms = {**CONTROLLED, ("random", 0.2, "aa"): _arm(0.05)}
    sweep_dir = paired_sweep(arms)
    text = write_report(sweep_dir).read_text()
    warning = "**The comparison is not trustworthy: the A/A arm random (A/A) @0.2"
    assert text.count(warning) == 2  # at the top and in the controls section
    assert text.index(warning) < text.index("## Comparison")
    summary = json.loads((sweep_dir / "report" / "summary.json").read_text())
    assert summary["aa_trustworthy"] is False


def test_ranking_leaves_the_controls_out_and_orders_by_delta_vs_random(paired_sweep):
    rows = summarise(*load_runs(paired_sweep(CONTROLLED)))
    assert [r["name"] for r in ranked(rows)] == ["full", "better @0.2", "random @0.2", "same @0.2"]


def test_protocol_missing_seeds_and_budgets_without_random(paired_sweep):
    arms = {
        ("random", 0.2, ""): _arm(seeds=(0, 1)),
        ("better", 0.2, ""): _arm(1.0),
        ("better", 0.5, ""): _arm(1.0),
    }
    design = {"unit": "seed", "same_for_every_run_of_a_seed": ["training.seed", "the evaluation"]}
    sweep_dir = paired_sweep(arms, reference="", protocol="steps", paired_design=design)
    text = write_report(sweep_dir).read_text()
    assert "Protocol: **steps** (DataComp's" in text
    assert "Paired design: unit: seed; same for every run of a seed: training.seed, the " in text
    table = _table_rows(text, "## Comparison")
    assert table["better @0.5"][0] == "no random arm"
    assert "- better @0.2 vs random: compared on seeds 0, 1 (seed 2: no random run)" in text
    report = sweep_dir / "report"
    assert (report / "delta_vs_random.png").stat().st_size > 0
    assert (report / "budget_curves.png").stat().st_size > 0  # two budgets


def test_protocol_defaults_to_epochs_and_one_budget_draws_no_curve(paired_sweep):
    sweep_dir = paired_sweep({("random", 0.2, ""): _arm(), ("better", 0.2, ""): _arm(1.0)})
    assert "Protocol: **epochs** (the papers'" in write_report(sweep_dir).read_text()
    assert not (sweep_dir / "report" / "budget_curves.png").exists()


def test_the_console_table_leads_with_delta_and_prints_the_controls_apart(paired_sweep, capsys):
    from experiments.cli import main

    arms = {**CONTROLLED, ("random", 0.2, "aa"): _arm(0.05)}
    assert main(["report", str(paired_sweep(arms))]) == 0
    out = capsys.readouterr().out
    methods, controls = out.split("controls (never ranked):")
    assert "| method | Δ vs random [95% CI] | P(Δ>0) | Δ vs full [95% CI] |" in methods
    names = [line.split("|")[1].strip() for line in methods.splitlines() if line.startswith("| ")]
    assert names[1:] == ["full", "better @0.2", "random @0.2", "same @0.2"]  # ranked, no control
    assert "| random (A/A) @0.2 | +5.00 [+5.00, +5.00] * |" in controls
    assert "| oracle (ground truth) @0.2 | +20.00 [+20.00, +20.00] * |" in controls
    assert out.count("**The comparison is not trustworthy") == 2  # above the table, with controls
    assert out.index("not trustworthy") < out.index("| method |")
    assert out.startswith("\nProtocol: **epochs**")


def test_selection_cost_column_from_the_subset_manifests(paired_sweep):
    arms = {("random", 0.2, ""): _arm(), ("better", 0.2, ""): _arm(1.0)}
    text = write_report(paired_sweep(arms, selection_s={("better", 0.2, ""): 2.5})).read_text()
    header = next(line for line in text.splitlines() if line.startswith("| method | Δ"))
    assert "| size | selection s | seeds |" in header
    table = _table_rows(text, "## Comparison")
    assert table["better @0.2"][3:6] == ["40", "2.5 (cpu)", "3"]  # conftest.SUBSET_SIZE items
    assert table["random @0.2"][3:6] == ["-", "-", "3"]  # its curate jobs recorded no time
