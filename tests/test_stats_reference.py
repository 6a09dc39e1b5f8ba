"""The report's statistics against independent references: scipy's paired t-test, hand-computed
3-seed cases (each part of the standard error, the Welch–Satterthwaite df, two levels), the
unanimous-pairs interval and Clopper–Pearson with a seed-mean (non-integer) count."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special
from scipy import stats as sps

from sagr import stats

# 3 seeds × 4 points; per-point differences a − b:
#   seed 0: 1 0 1 0 (mean 1/2), seed 1: 0 1 0 0 (1/4), seed 2: 1 0 0 1 (1/2)
A = np.array([[1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1]], float)
B = np.array([[0, 1, 0, 0], [1, 0, 0, 0], [0, 1, 1, 0]], float)
# By hand: estimate = (1/2 + 1/4 + 1/2)/3 = 5/12.
# Point part: per-point means over seeds (2/3, 1/3, 1/3, 1/3), deviations (1/4, −1/12, −1/12, −1/12),
#   sum of squares 1/12, variance (ddof 1) 1/36, sd 1/6, / √4 → 1/12.
# Seed part: deviations of (1/2, 1/4, 1/2) from 5/12 are (1/12, −1/6, 1/12), sum of squares 1/24,
#   variance 1/48, / 3 seeds → se² = 1/144, se = 1/12.
# SE² = 1/144 + 1/144 = 1/72; Welch–Satterthwaite df = (2/144)² / ((1/144)²/3 + (1/144)²/2) = 24/5.
EST, SE_POINTS, SE_SEEDS, DF = 5 / 12, 1 / 12, 1 / 12, 24 / 5


@pytest.mark.parametrize("level", [0.95, 0.99])
def test_paired_difference_of_a_hand_computed_three_seed_case(level: float) -> None:
    d = stats.paired_difference(A, B, level=level)
    assert d.estimate == pytest.approx(EST)
    assert d.se_points == pytest.approx(SE_POINTS)
    assert d.se_seeds == pytest.approx(SE_SEEDS)
    assert d.df == pytest.approx(DF)
    half = sps.t.ppf((1 + level) / 2, DF) * math.sqrt(1 / 72)
    assert (d.low, d.high) == pytest.approx((EST - half, EST + half))
    assert d.level == level and d.n == 4 and d.seeds == 3


def test_the_two_levels_give_different_intervals() -> None:
    # Guards against a `level` argument that is accepted but not used.
    d95, d99 = stats.paired_difference(A, B, 0.95), stats.paired_difference(A, B, 0.99)
    assert d99.low < d95.low - 0.05 and d99.high > d95.high + 0.05


@pytest.mark.parametrize("level", [0.95, 0.9])
def test_one_seed_equals_scipys_paired_t_test(level: float) -> None:
    rng = np.random.default_rng(3)
    a = (rng.random(60) < 0.7).astype(float)
    b = (rng.random(60) < 0.5).astype(float)
    ci = sps.ttest_rel(a, b).confidence_interval(confidence_level=level)
    d = stats.paired_difference(a[None], b[None], level=level)
    assert (d.low, d.high) == pytest.approx((ci.low, ci.high), rel=1e-12)
    assert d.estimate == pytest.approx(np.mean(a - b)) and d.df == pytest.approx(59)
    assert math.isnan(d.se_seeds)


def test_one_seed_uses_the_paired_not_the_unpaired_variance() -> None:
    # Strongly correlated outcomes: the paired SE is far below the unpaired one.
    rng = np.random.default_rng(4)
    a = (rng.random(200) < 0.6).astype(float)
    b = a.copy()
    b[:10] = 1 - b[:10]
    d = stats.paired_difference(a[None], b[None])
    assert d.se_points == pytest.approx(np.std(a - b, ddof=1) / math.sqrt(200))
    unpaired = math.sqrt(np.var(a, ddof=1) / 200 + np.var(b, ddof=1) / 200)
    assert d.se_points < unpaired / 2


@pytest.mark.parametrize("level", [0.95, 0.99])
def test_summary_difference_of_a_hand_computed_three_seed_case(level: float) -> None:
    # Per seed A − B = 0.1, 0.2, 0.3 (mean 0.2, sd 0.1); sd_a = 0.3, sd_b = 0.4 on n = 100 images:
    # point part √(0.3² + 0.4²)/√100 = 0.05 (not (0.3 + 0.4)/10), seed part 0.1/√3.
    a_means, b_means = [0.6, 0.7, 0.8], [0.5, 0.5, 0.5]
    d = stats.summary_difference(a_means, [0.3] * 3, b_means, [0.4] * 3, n=100, level=level)
    sp, ss = 0.05, 0.1 / math.sqrt(3)
    df = (sp**2 + ss**2) ** 2 / (sp**4 / 99 + ss**4 / 2)
    half = sps.t.ppf((1 + level) / 2, df) * math.sqrt(sp**2 + ss**2)
    assert d.estimate == pytest.approx(0.2)
    assert d.se_points == pytest.approx(sp) and d.se_seeds == pytest.approx(ss)
    assert d.df == pytest.approx(df)
    assert (d.low, d.high) == pytest.approx((0.2 - half, 0.2 + half))


def test_summary_difference_with_one_seed_is_a_t_interval_on_the_points() -> None:
    d = stats.summary_difference([0.6], [0.3], [0.5], [0.4], n=100)
    half = sps.t.ppf(0.975, 99) * 0.05
    assert (d.low, d.high) == pytest.approx((0.1 - half, 0.1 + half)) and d.df == pytest.approx(99)


def test_unanimous_interval_by_hand() -> None:
    # 0 disagreements among 150 (seed, point) pairs: Clopper–Pearson's upper bound for 0 of 150 is
    # 1 − 0.025^(1/150); each unseen disagreement moves the difference by at most 2 (from +1 to −1).
    u = 1 - 0.025 ** (1 / 150)
    up = stats.paired_difference(np.ones((3, 50)), np.zeros((3, 50)))
    assert (up.low, up.high) == pytest.approx((1 - 2 * u, 1.0))
    down = stats.paired_difference(np.zeros((3, 50)), np.ones((3, 50)))
    assert (down.low, down.high) == pytest.approx((-1.0, -1 + 2 * u))
    same = stats.paired_difference(np.ones((3, 50)), np.ones((3, 50)))
    assert (same.low, same.high) == pytest.approx((-u, u))
    # At 99 %: 1 − 0.005^(1/150).
    u99 = 1 - 0.005 ** (1 / 150)
    assert stats.paired_difference(np.ones((3, 50)), np.zeros((3, 50)), 0.99).low == pytest.approx(
        1 - 2 * u99
    )


@pytest.mark.parametrize("k,n", [(2.5, 10), (17.0 / 3, 40), (0.5, 64)])
def test_clopper_pearson_with_a_seed_mean_count(k: float, n: int) -> None:
    # The exact interval's ends solve P(X ≥ k | p = low) = α/2 and P(X ≤ k | p = high) = α/2, with the
    # binomial tails written as regularised incomplete beta functions, which extend to non-integer k.
    lo, hi = stats.clopper_pearson(k, n)
    assert special.betainc(k, n - k + 1, lo) == pytest.approx(0.025)
    assert 1 - special.betainc(k + 1, n - k, hi) == pytest.approx(0.025)
    # And it lies between the exact intervals of the integers around k.
    below = sps.binomtest(math.floor(k), n).proportion_ci(method="exact")
    above = sps.binomtest(math.ceil(k), n).proportion_ci(method="exact")
    assert below.low < lo < above.low and below.high < hi < above.high


def test_clopper_pearson_at_another_level() -> None:
    ci = sps.binomtest(7, 50).proportion_ci(confidence_level=0.99, method="exact")
    assert stats.clopper_pearson(7, 50, level=0.99) == pytest.approx((ci.low, ci.high))
