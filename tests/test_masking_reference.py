"""The masking checks' decision rule at its edges: Bonferroni within a check (p-values between
α/m² and α/m, and between α/m and α), and the chance null 1/C."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from sagr.masking import MASKING_ALPHA, masking_checks
from test_masking import IDS, N, broken_first, healthy, results, verdicts


def _rises(k: int) -> dict:
    """healthy() with PGD at ε = 0.3 broken on points 0–19 as at ε = 0.1, except that the first k of
    them are correct again at 0.3: k rises, no fall, one-sided exact p = 0.5^k."""
    arrays = healthy()
    arrays[("pgd", "pgd", "baseline", 0.3)] = np.r_[np.ones(k), broken_first(20)[k:]].astype(np.int8)
    return arrays


def test_monotone_check_compares_two_pairs() -> None:
    # healthy(): FGSM and PGD at two ε each, so m = 2 (α/m = 0.025, α/m² = 0.0125).
    res = masking_checks(*results(healthy()), 10)[0]
    assert res["detail"].startswith("2 ")


@pytest.mark.parametrize(
    "k,passed",
    [
        (5, True),  # p = 0.031: below α, above α/m: no violation once Bonferroni-adjusted
        (6, False),  # p = 0.0156: below α/m (above α/m²): a violation
    ],
)
def test_monotone_check_is_bonferroni_adjusted_once(k: int, passed: bool) -> None:
    p = 0.5**k
    m = 2
    assert MASKING_ALPHA / m**2 < p < MASKING_ALPHA
    res = masking_checks(*results(_rises(k)), 10)[0]
    assert res["p_value"] == pytest.approx(p)
    assert res["passed"] is passed
    assert verdicts(*results(_rises(k)))["monotone_eps"] is passed


def test_blackbox_check_with_one_comparison_uses_alpha_itself() -> None:
    # m = 1: Square breaks 5 points no white-box attack breaks (p = 0.031 < α) fails; 4 (p = 0.0625) passes.
    for extra, passed in [(5, False), (4, True)]:
        arrays = healthy()
        for key in [
            ("pgd", "pgd", "baseline", 0.3),
            ("fgsm", "fgsm", "baseline", 0.3),
            ("pgd_strong", "pgd", "strong", 0.3),
        ]:
            arrays[key] = broken_first(20)
        arrays[("square", "square", "blackbox", 0.3)] = broken_first(20 + extra)
        res = masking_checks(*results(arrays), 10)[2]
        assert res["p_value"] == pytest.approx(0.5**extra) and res["passed"] is passed


@pytest.mark.parametrize(
    "n_classes,clean_correct,applies",
    [
        (10, 13, True),  # 13/64 ≈ 0.20: far above chance 1/10 (though far below 0.5)
        (10, 8, False),  # 8/64 ≈ 0.125: not significantly above 1/10
        (2, 40, True),  # 40/64 ≈ 0.63: above chance 1/2
        (2, 36, False),  # 36/64 ≈ 0.56: not significantly above 1/2
    ],
)
def test_at_chance_is_tested_against_one_over_c(n_classes: int, clean_correct: int, applies: bool) -> None:
    p = binomtest(clean_correct, N, 1 / n_classes, alternative="greater").pvalue
    assert bool(p < MASKING_ALPHA) is applies  # the premise of each case
    res = masking_checks(*results(healthy(), clean_correct=clean_correct), n_classes)
    if applies:
        assert [r["passed"] for r in res] == [True] * len(IDS)
    else:
        assert all(r["passed"] is None and "chance" in r["detail"] for r in res)
