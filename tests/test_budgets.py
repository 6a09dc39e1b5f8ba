"""The one rule for which (norm, ε) are budgets the claims, tables and export compare worst cases at."""

import pandas as pd

from sagr.robustness.budgets import UNBOUNDED_EPS, is_budget, linf_budgets


def test_only_linf_below_the_unbounded_eps_is_a_budget():
    assert is_budget("linf", 0.3) and is_budget("linf", 8 / 255)
    assert not is_budget("linf", UNBOUNDED_EPS)  # the unbounded sanity check covers all of [0,1]
    assert not is_budget("l2", 0.5) and not is_budget("none", 0.0)  # L2 radii and clean


def test_linf_budgets_keeps_exactly_those_rows_of_a_table():
    frame = pd.DataFrame(
        {
            "norm": ["none", "linf", "linf", "l2", "linf"],
            "eps": [0.0, 0.1, 1.0, 0.5, 0.3],
            "run": list("abcde"),
        }
    )
    assert list(linf_budgets(frame)["run"]) == ["b", "e"]
    empty = frame.iloc[:0]
    assert linf_budgets(empty).columns.tolist() == frame.columns.tolist()
