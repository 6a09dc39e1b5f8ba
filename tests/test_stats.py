"""The report's statistics: exact intervals, and paired differences that keep their level."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from sagr import stats


@pytest.mark.parametrize("k,n", [(0, 400), (3, 64), (32, 64), (64, 64), (399, 400)])
def test_clopper_pearson_equals_scipy_exact_interval(k: int, n: int) -> None:
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    assert stats.clopper_pearson(k, n) == pytest.approx((ci.low, ci.high))


def test_zero_of_400_has_an_upper_bound_near_one_percent() -> None:
    lo, hi = stats.clopper_pearson(0, 400)
    assert lo == 0 and 0.009 < hi < 0.0095


def test_standard_error_is_the_binomial_one() -> None:
    assert stats.standard_error(0.5, 100) == pytest.approx(0.05)
    assert np.isnan(stats.standard_error(0.5, 0))


def test_paired_difference_ignores_points_not_evaluated() -> None:
    a = np.array([[1, 1, 0, np.nan], [1, 0, 0, 1]])
    b = np.array([[0, 1, 0, 1], [0, 0, 0, 0]])
    d = stats.paired_difference(a, b)
    assert d.n == 3 and d.seeds == 2
    assert d.estimate == pytest.approx(np.mean([1 / 3, 1 / 3]))


def test_paired_difference_interval_keeps_its_level() -> None:
    """Two methods of equal accuracy: the 95 % interval contains 0 in about 95 % of draws."""
    rng = np.random.default_rng(0)
    covered = 0
    reps = 400
    for _ in range(reps):
        seed_effect = rng.normal(0, 0.02, size=(3, 1))  # seeds differ, in both directions
        a = (rng.random((3, 200)) < 0.5 + seed_effect).astype(float)
        b = (rng.random((3, 200)) < 0.5).astype(float)
        d = stats.paired_difference(a, b)
        covered += d.low <= 0 <= d.high
    assert 0.92 <= covered / reps <= 0.995


def test_paired_difference_finds_a_real_effect_and_its_sign() -> None:
    rng = np.random.default_rng(1)
    u = rng.random((1, 400)).repeat(3, axis=0)  # shared points: paired
    assert stats.paired_difference(u < 0.6, u < 0.5).significant == 1
    assert stats.paired_difference(u < 0.5, u < 0.6).significant == -1


def test_summary_difference_of_saliency_means() -> None:
    d = stats.summary_difference([0.6, 0.62], [0.1, 0.1], [0.5, 0.5], [0.1, 0.1], n=400)
    assert d.estimate == pytest.approx(0.11) and d.significant == 1
    one = stats.summary_difference([0.6], [0.1], [0.5], [0.1], n=400)
    assert np.isnan(one.se_seeds) and one.significant == 1


def test_unanimous_pairs_give_an_interval_not_a_point() -> None:
    # Both models wrong on all 193 points of one seed: the difference is 0, but not known to be exactly 0.
    zeros = np.zeros((1, 193))
    d = stats.paired_difference(zeros, zeros)
    u = stats.clopper_pearson(0, 193)[1]
    assert d.estimate == 0 and d.low == pytest.approx(-u) and d.high == pytest.approx(u) and u > 0.015
    assert d.significant == 0
    # Every point flips the same way on 3 seeds: the lower bound leaves room for unseen disagreements.
    up = stats.paired_difference(np.ones((3, 50)), np.zeros((3, 50)))
    assert up.estimate == 1 and up.high == 1 and 0.9 < up.low < 1 and up.significant == 1
    # One disagreement is enough for the usual interval.
    one = zeros.copy()
    one[0, 0] = 1
    assert stats.paired_difference(one, zeros).low < 0 < stats.paired_difference(one, zeros).high
