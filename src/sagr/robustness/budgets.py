"""Which (norm, ε) are budgets a worst case is compared at: one rule for every table and claim.

Under L∞, ε ≥ 1 covers all of [0,1] pixel space: the unbounded PGD there is a sanity check of the
masking checks (accuracy must reach 0), shown in its own column, never a budget to compare
methods at. The per-model outcome table computes worst cases at every ε it holds; the tables over
many models (`sagr.results`), the claims and the export keep the budgets with this rule.
"""

from __future__ import annotations

from typing import Any

UNBOUNDED_EPS: float = 1.0


def is_budget(norm: str, eps: float) -> bool:
    """Whether (norm, ε) is an L∞ budget a worst case is compared at (not the unbounded check)."""
    return norm == "linf" and float(eps) < UNBOUNDED_EPS


def linf_budgets(frame: Any) -> Any:
    """The rows of a records or worst-case table (columns norm, eps) at the L∞ budgets (`is_budget`)."""
    keep = [is_budget(n, e) for n, e in zip(frame["norm"], frame["eps"], strict=True)]
    return frame[keep] if len(frame) else frame
