"""Budgets: resolved against the pool, and refused where a method would ignore them."""

import pytest

from curation.method import BudgetError, refuse_ignored_budget, resolve_budget
from curation.registry import get_method


@pytest.mark.parametrize(
    ("budget", "expected"), [(0.2, 200), (1.0, 1000), (250, 250), (1000, 1000), (None, None)]
)
def test_fractions_and_counts(budget, expected):
    assert resolve_budget(budget, 1000, needs_budget=False) == expected


@pytest.mark.parametrize(
    ("budget", "message"),
    [(0, "must be > 0"), (2.5, "must be whole"), (1001, "exceeds the pool"), (None, "needs a")],
)
def test_impossible_budgets_are_one_line_errors(budget, message):
    with pytest.raises(BudgetError, match=message):
        resolve_budget(budget, 1000, needs_budget=True)


@pytest.mark.parametrize("name", ["full", "adr"])
def test_a_method_that_sizes_itself_refuses_a_budget_instead_of_ignoring_it(name):
    method = get_method(name)
    with pytest.raises(BudgetError, match=f"method={name} takes no budget .*set budget=null"):
        refuse_ignored_budget(method, 0.2)
    refuse_ignored_budget(method, None)


@pytest.mark.parametrize("name", ["random", "adr_dr", "coincide", "el2n"])
def test_methods_that_use_a_budget_take_one(name):
    refuse_ignored_budget(get_method(name), 0.2)
