"""The one rule for which (norm, ε) are budgets the claims, tables and export compare worst cases at."""

import pandas as pd

from sagr import results
from sagr import summaries as S
from sagr.labels import WORST
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


def _worst_case_only(worst_case: pd.DataFrame) -> results.Results:
    """Results whose only rows are one run's worst cases."""
    tables = {name: results._empty(name) for name in results.TABLES}
    return results.Results(**{**tables, "worst_case": worst_case})


def test_the_summaries_take_worst_cases_at_the_linf_budgets_only():
    # one main run's worst cases: two L∞ budgets, the unbounded L∞ check, and L2 radii below and
    # above 1 (config/paper.yaml's CIFAR radii are 0.25 and 0.5: a cut at ε < 1 kept those)
    grid = [("linf", 0.1), ("linf", 0.3), ("linf", 1.0), ("l2", 0.5), ("l2", 2.0)]
    wc = pd.DataFrame(
        [
            dict(
                dataset="mnist", run="sagr_0", method="sagr", seed=0, main=True, norm=norm, eps=eps,
                accuracy=0.5, n=10, n_correct=5, n_eval=10, attacks="pgd", apgd_strength=False,
            )
            for norm, eps in grid
        ]
    )  # fmt: skip
    summary = S.robustness_summary(_worst_case_only(wc))
    worst = summary[summary["attack"] == WORST]
    assert list(zip(worst["norm"], worst["eps"], strict=True)) == [("linf", 0.1), ("linf", 0.3)]
    assert sorted(S.curves(summary)["eps"]) == [0.1, 0.3]
