"""What a comparison could see: minimum detectable effects and the n or seeds that would decide."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from sagr import stats


def _diff(
    se_points: float,
    n: int,
    se_seeds: float = math.nan,
    seeds: int = 1,
    level: float = 0.95,
    estimate: float = 0.01,
) -> stats.Difference:
    lo, hi, df = stats._t_interval(estimate, se_points, n, se_seeds, seeds, level)
    return stats.Difference(estimate, lo, hi, se_points, se_seeds, df, n, seeds, level)


def test_mde_is_the_classic_2_8_standard_errors_at_large_df() -> None:
    # z_0.975 + z_0.80 = 1.95996 + 0.84162 = 2.80158 (Bloom 1995's multiplier)
    d = _diff(0.02, 10**7)
    assert stats.minimum_detectable_effect(d) == pytest.approx(2.80158 * 0.02, rel=1e-4)


def test_mde_uses_the_bonferroni_level_and_the_t_quantiles_of_the_interval() -> None:
    level = 1 - 0.05 / 3
    d = _diff(0.01, 50, se_seeds=0.02, seeds=3, level=level)
    se = math.hypot(0.01, 0.02)
    df = se**4 / (0.01**4 / 49 + 0.02**4 / 2)
    assert d.df == pytest.approx(df)
    expected = (sps.t.ppf(1 - 0.05 / 6, df) + sps.t.ppf(0.8, df)) * se
    assert stats.minimum_detectable_effect(d) == pytest.approx(expected, rel=1e-9)
    # the half-width alone (power 50 %) and the 95 % level would both be smaller
    assert stats.minimum_detectable_effect(d, power=0.5) == pytest.approx((d.high - d.low) / 2)
    assert stats.minimum_detectable_effect(_diff(0.01, 50, 0.02, 3)) < expected


def test_an_effect_the_size_of_the_mde_is_found_four_times_in_five() -> None:
    """Simulated paired 0/1 data whose true difference equals the MDE: the interval excludes 0 in
    about 80 % of draws (a missing power term would give 50 %, a doubled SE far more)."""
    rng = np.random.default_rng(3)
    n, disagree = 400, 0.3  # share of points where the two models differ
    sd = math.sqrt(disagree)  # sd of the per-point difference near no effect
    effect = 2.8 * sd / math.sqrt(n)
    found, reps = 0, 2000
    for _ in range(reps):
        u = rng.random(n)
        up = u < disagree / 2 + effect / 2  # A right, B wrong
        down = (u >= disagree / 2 + effect / 2) & (u < disagree)  # A wrong, B right
        a, b = up.astype(float)[None], down.astype(float)[None]
        found += stats.paired_difference(a, b).significant == 1
    assert 0.76 <= found / reps <= 0.84


def test_points_needed_bring_the_mde_down_to_the_observed_effect() -> None:
    d = _diff(0.03, 100)  # sd over points 0.3
    effect = 0.02
    m = stats.points_needed(d, effect)
    assert m == pytest.approx((2.80158 * 0.3 / effect) ** 2, rel=0.01)  # normal approximation
    at = lambda k: stats.minimum_detectable_effect(_diff(0.3 / math.sqrt(k), k))  # noqa: E731
    assert at(m) <= effect < at(m - 1)
    assert stats.points_needed(d, -effect) == m  # the sign of the effect does not matter


def test_points_cannot_beat_the_seed_spread() -> None:
    # seed part alone: (t_{0.975,2} + t_{0.8,2}) * 0.02 = (4.303 + 1.061) * 0.02 = 0.107
    d = _diff(0.01, 400, se_seeds=0.02, seeds=3)
    assert stats.points_needed(d, 0.1) == math.inf
    assert math.isfinite(stats.points_needed(d, 0.12))


def test_seeds_needed_bring_the_mde_down_to_the_observed_effect() -> None:
    d = _diff(0.005, 1000, se_seeds=0.03, seeds=3)  # sd over seeds 0.052
    effect = 0.04
    s = stats.seeds_needed(d, effect)
    sd = 0.03 * math.sqrt(3)
    at = lambda k: stats.minimum_detectable_effect(_diff(0.005, 1000, sd / math.sqrt(k), k))  # noqa: E731
    assert s > 3 and at(s) <= effect < at(s - 1)
    assert stats.seeds_needed(d, 0.01) == math.inf  # the point part alone is 0.014
    assert math.isnan(stats.seeds_needed(_diff(0.005, 1000), effect))  # one seed: no spread to scale
    assert math.isnan(stats.points_needed(d, 0.0))  # no observed effect to decide


def test_mde_of_a_unanimous_comparison_comes_from_its_interval() -> None:
    zeros = np.zeros((1, 193))
    d = stats.paired_difference(zeros, zeros)
    u = stats.clopper_pearson(0, 193)[1]
    assert stats.minimum_detectable_effect(d) == pytest.approx(u * 2.80158 / 1.95996, rel=1e-4)
    assert d.mean_a == 0 and d.mean_b == 0


def test_paired_difference_reports_both_sides_means_on_the_shared_points() -> None:
    a = np.array([[1, 1, 0, np.nan], [1, 0, 0, 1]])
    b = np.array([[0, 1, 0, 1], [0, 0, 0, 0]])
    d = stats.paired_difference(a, b)
    assert d.mean_a == pytest.approx(3 / 6) and d.mean_b == pytest.approx(1 / 6)
