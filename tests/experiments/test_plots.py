"""The budget curves draw a Δ-vs-random panel only when some arm has a Δ."""

import pytest

from experiments.plots import budget_curve_figure


def _interval(delta: float) -> dict:
    return {"delta": delta, "low": delta - 1.0, "high": delta + 1.0}


def _row(method: str, budget: float, relative: float, delta: float | None) -> dict:
    vs_random = None if delta is None else {"overall": {"score": _interval(delta)}}
    return {
        "method": method,
        "control": "",
        "budget": budget,
        "relative_ci": _interval(relative),
        "vs_random": vs_random,
    }


@pytest.mark.parametrize(
    ("rows", "titles"),
    [
        (
            [_row("random", 0.1, 80.0, None), _row("random", 0.5, 90.0, None)],
            ["relative performance vs budget (95% paired bootstrap CI)"],
        ),
        (
            [
                _row("random", 0.1, 80.0, None),
                _row("random", 0.5, 90.0, None),
                _row("coincide", 0.1, 82.0, 2.0),
                _row("coincide", 0.5, 91.0, 1.0),
            ],
            [
                "relative performance vs budget (95% paired bootstrap CI)",
                "Δ vs random vs budget (95% paired bootstrap CI)",
            ],
        ),
    ],
)
def test_a_random_only_sweep_draws_no_empty_delta_panel(rows, titles):
    figure = budget_curve_figure(rows)
    assert [ax.get_title() for ax in figure.axes] == titles
    relative = figure.axes[0].get_lines()
    assert [list(line.get_ydata()) for line in relative if line.get_label() == "random"] == [
        [80.0, 90.0]
    ]
