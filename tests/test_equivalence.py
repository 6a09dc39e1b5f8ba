""" "No effect" as a verdict: the two one-sided tests against a reference TOST built from scipy's t
tests, and the verdict rule that turns them into "equivalent"."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from sagr import claims as C
from sagr import stats
from sagr.stats import Difference
from test_verdicts import floor_case  # noqa: F401  (a fixture)


def reference_tost(d: np.ndarray, margin: float) -> float:
    """Schuirmann's TOST on paired differences with scipy's one-sample t tests: the larger of the
    p-values of H0: mean ≤ −margin and H0: mean ≥ +margin."""
    lower = sps.ttest_1samp(d, -margin, alternative="greater").pvalue
    upper = sps.ttest_1samp(d, margin, alternative="less").pvalue
    return float(max(lower, upper))


def _paired(n: int, p_a: float, p_b: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    u = rng.random(n)
    return (u < p_a).astype(float)[None], (rng.random(n) < p_b).astype(float)[None]


@pytest.mark.parametrize(
    "n, p_a, p_b, margin",
    [(500, 0.80, 0.80, 0.05), (500, 0.80, 0.79, 0.02), (2000, 0.9, 0.9, 0.01), (300, 0.6, 0.5, 0.05)],
)
def test_equivalence_p_equals_the_reference_tost_on_one_seed(n, p_a, p_b, margin) -> None:
    a, b = _paired(n, p_a, p_b, seed=n)
    d = stats.paired_difference(a, b)
    assert stats.equivalence_p(d, margin) == pytest.approx(reference_tost((a - b)[0], margin), rel=1e-9)


def test_tost_is_the_interval_at_one_minus_two_alpha_inside_the_margin() -> None:
    a, b = _paired(1000, 0.85, 0.85, seed=3)
    d90 = stats.paired_difference(a, b, level=0.90)
    inside = -0.03 < d90.low and d90.high < 0.03
    assert inside == stats.equivalent(stats.paired_difference(a, b), 0.03, alpha=0.05)
    # a margin just wider than the 90 % interval's far end decides; one just narrower does not
    far = max(abs(d90.low), abs(d90.high))
    assert stats.equivalent(d90, far * 1.01, 0.05) and not stats.equivalent(d90, far * 0.99, 0.05)


def test_no_margin_or_no_estimate_never_shows_equivalence() -> None:
    a, b = _paired(500, 0.8, 0.8, seed=1)
    d = stats.paired_difference(a, b)
    assert math.isnan(stats.equivalence_p(d, 0.0)) and not stats.equivalent(d, 0.0, 0.05)
    nan = Difference(*([math.nan] * 6), 0, 0)
    assert math.isnan(stats.equivalence_p(nan, 0.05))


def test_unanimous_pairs_are_equivalent_only_when_enough_of_them_agree() -> None:
    # every one of 500 points agrees (difference 0): the interval is Clopper-Pearson's, ±0.0074 at 95 %
    same = np.ones((1, 500))
    d = stats.paired_difference(same, same)
    assert stats.equivalent(d, 0.01, 0.05) and not stats.equivalent(d, 0.005, 0.05)
    few = stats.paired_difference(np.ones((1, 20)), np.ones((1, 20)))  # 20 points prove little
    assert not stats.equivalent(few, 0.05, 0.05)


def _d(estimate: float, se: float, n: int = 500) -> Difference:
    """A one-seed difference with point SE `se` at a 95 % interval (df n − 1)."""
    half = sps.t.ppf(0.975, n - 1) * se
    return Difference(estimate, estimate - half, estimate + half, se, math.nan, n - 1, n, 1)


def _comp(kind: str = "accuracy", premise: bool = False) -> C.Comparison:
    return C.Comparison("A − B", kind, ("a",), ("b",), premise=premise)


MARGINS = {"accuracy": 0.01, "saliency": 0.02}


def test_a_claim_whose_comparisons_all_sit_inside_the_margin_is_equivalent() -> None:
    tight = _d(0.001, 0.002)  # 90 % interval ±0.0033: inside ±0.01
    assert C.verdict([(_comp(), tight), (_comp(), tight)], MARGINS) == C.EQUIVALENT
    # without margins the same evidence stays inconclusive
    assert C.verdict([(_comp(), tight)], None) == C.INCONCLUSIVE
    # one comparison reaching past the margin leaves the claim undecided
    wide = _d(0.004, 0.008)
    assert C.verdict([(_comp(), tight), (_comp(), wide)], MARGINS) == C.INCONCLUSIVE
    # the margin is the comparison's kind's: a Gini difference of 0.015 is inside 0.02, not inside 0.01
    gini = _d(0.015, 0.001)
    assert C.verdict([(_comp("saliency"), gini)], MARGINS) == C.SUPPORTED  # significant first
    gini0 = _d(0.0, 0.005)
    assert C.verdict([(_comp("saliency"), gini0)], MARGINS) == C.EQUIVALENT
    assert C.verdict([(_comp("saliency"), gini0)], {"accuracy": 0.02, "saliency": 0.005}) == C.INCONCLUSIVE


def test_evidence_of_a_sign_takes_precedence_over_equivalence() -> None:
    against = _d(-0.006, 0.001)  # significant against, and inside ±0.01
    assert C.verdict([(_comp(), against)], MARGINS) == C.CONTRADICTED
    # a premise inside the margin does not make its claim equivalent
    premise_ok = _d(0.05, 0.005)
    tight = _d(0.0, 0.002)
    assert C.verdict([(_comp(premise=True), premise_ok), (_comp(), tight)], MARGINS) == C.EQUIVALENT


def test_equivalence_is_tested_at_the_claims_bonferroni_level() -> None:
    # TOST p of this comparison is between 0.05/4 and 0.05: equivalent alone, not as one of 4
    d95 = _d(0.0, 0.0045)
    p = stats.equivalence_p(d95, 0.01)
    assert 0.05 / 4 < p < 0.05
    assert C.equivalent(_comp(), d95, MARGINS)
    level4 = 1 - 0.05 / 4
    d4 = Difference(0.0, -1, 1, 0.0045, math.nan, 499, 500, 1, level=level4)
    assert not C.equivalent(_comp(), d4, MARGINS)


# ---------------------------------------------------------------- a masked model decides nothing


def _pair(sign: int = +1) -> C.Comparison:
    return C.Comparison("SAGR − JR", "accuracy", ("sagr-0",), ("jr-0",), sign=sign)


def test_a_flagged_model_cannot_support_a_claim_or_show_equivalence() -> None:
    above = _d(0.05, 0.005)
    assert C.verdict([(_pair(), above)], MARGINS) == C.SUPPORTED
    for run in ("sagr-0", "jr-0"):
        assert C.verdict([(_pair(), above)], MARGINS, flagged={run}) == C.NOT_DECIDABLE
    tight = _d(0.0, 0.002)
    assert C.verdict([(_pair(), tight)], MARGINS, flagged={"jr-0"}) == C.NOT_DECIDABLE
    # a run no comparison reads changes nothing
    assert C.verdict([(_pair(), above)], MARGINS, flagged={"pgd_at-0"}) == C.SUPPORTED


def test_a_contradiction_stands_unless_the_side_predicted_worse_is_masked() -> None:
    below = _d(-0.05, 0.005)  # SAGR below JR, the claim said above
    # SAGR masked: its true robustness is lower still, the contradiction holds
    assert C.verdict([(_pair(), below)], MARGINS, flagged={"sagr-0"}) == C.CONTRADICTED
    # JR masked: JR may be overstated, so SAGR's deficit may be an artefact
    assert C.verdict([(_pair(), below)], MARGINS, flagged={"jr-0"}) == C.NOT_DECIDABLE
    # with the predicted sign reversed the sides swap
    assert C.verdict([(_pair(sign=-1), _d(0.05, 0.005))], MARGINS, flagged={"sagr-0"}) == C.NOT_DECIDABLE


def test_blended_sides_are_searched_for_flagged_runs() -> None:
    blend = C.Comparison("SAGR curve − JR", "accuracy", ((("sagr-a", 0.5), ("sagr-b", 0.5)),), ("jr-0",))
    assert C.verdict([(blend, _d(0.05, 0.005))], MARGINS, flagged={"sagr-b"}) == C.NOT_DECIDABLE
    assert C.masked_in([blend], {"sagr-b": ["deterministic"], "x": ["y"]}) == "sagr-b: deterministic"


def test_one_flagged_model_in_a_result_set_turns_supported_into_not_decidable(floor_case) -> None:  # noqa: F811
    import dataclasses

    import pandas as pd

    before = C.evaluate(floor_case)
    assert (before.loc[before["claim"] == "C6", "verdict"] == C.SUPPORTED).all()
    failed = pd.DataFrame(
        [dict(dataset="mnist", run="jr-seed1", check="deterministic", title="t", status="fail", detail="")]
    )
    after = C.evaluate(dataclasses.replace(floor_case, model_checks=failed))
    c6 = after[after["claim"] == "C6"]
    assert (c6["verdict"] == C.NOT_DECIDABLE).all() and (c6["masked"] == "jr-seed1: deterministic").all()
    # claims that never read JR's seed-1 model keep their verdicts
    untouched = ~after["claim"].isin(["C2", "C3", "C5", "C6", "C2m", "C3m"])
    assert list(after.loc[untouched, "verdict"]) == list(before.loc[untouched, "verdict"])
