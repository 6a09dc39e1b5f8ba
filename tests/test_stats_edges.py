"""The report's statistics at the edges of their inputs, against independent references: one or two
points, one or two seeds, nothing shared, missing seeds; the n and seeds a comparison would need
against a linear scan of the minimum detectable effect; McNemar's detectable difference against
the exact binomial test. Written to kill the mutants that survived `benchmarks/mutation_score.py`."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import stats as sps

from sagr import stats


def _nan_everywhere(d: stats.Difference, *fields: str) -> bool:
    return all(isinstance(getattr(d, f), float) and math.isnan(getattr(d, f)) for f in fields)


NUMBERS = ("estimate", "low", "high", "se_points", "se_seeds", "df", "mean_a", "mean_b")


# ------------------------------------------------------------------ proportions


@pytest.mark.parametrize("p,n", [(None, 10), (math.nan, 10), (0.5, 0), (0.5, -3)])
def test_standard_error_without_a_proportion_or_points_is_nan(p: float | None, n: int) -> None:
    assert math.isnan(stats.standard_error(p, n))


def test_standard_error_of_one_point_is_the_binomial_one() -> None:
    assert stats.standard_error(0.5, 1) == pytest.approx(0.5)


@pytest.mark.parametrize("k,n", [(None, 10), (math.nan, 10), (3, 0), (3, -3)])
def test_clopper_pearson_without_a_count_or_points_is_nan(k: float | None, n: int) -> None:
    lo, hi = stats.clopper_pearson(k, n)
    assert isinstance(lo, float) and isinstance(hi, float) and math.isnan(lo) and math.isnan(hi)


@pytest.mark.parametrize("k", [0, 1])
def test_clopper_pearson_of_one_point_equals_scipy(k: int) -> None:
    ci = sps.binomtest(k, 1).proportion_ci(method="exact")
    assert stats.clopper_pearson(k, 1) == pytest.approx((ci.low, ci.high))


# ------------------------------------------------------------------ paired differences


def test_nothing_shared_gives_an_undefined_difference_that_keeps_its_counts() -> None:
    a = np.array([[1.0, np.nan], [0.0, 1.0], [1.0, 1.0]])
    b = np.array([[1.0, 1.0], [np.nan, 0.0], [1.0, 1.0]])  # no point evaluated for both in every seed
    d = stats.paired_difference(a, b, level=0.9)
    assert _nan_everywhere(d, *NUMBERS)
    assert (d.n, d.seeds, d.level, d.significant) == (0, 3, 0.9, 0)


def test_boolean_correctness_is_read_as_zero_one() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.random((2, 40)) < 0.7, rng.random((2, 40)) < 0.5
    d, ref = stats.paired_difference(a, b), stats.paired_difference(a.astype(float), b.astype(float))
    assert d.estimate == pytest.approx(a.mean() - b.mean())
    assert (d.low, d.high, d.se_points, d.se_seeds) == pytest.approx(
        (ref.low, ref.high, ref.se_points, ref.se_seeds)
    )


def test_two_points_one_seed_equals_scipys_paired_t_test() -> None:
    # The smallest sample with a point spread (df = 1).
    a, b = np.array([1.0, 1.0]), np.array([0.0, 1.0])
    ci = sps.ttest_rel(a, b).confidence_interval()
    d = stats.paired_difference(a[None], b[None])
    assert (d.low, d.high) == pytest.approx((ci.low, ci.high)) and d.df == pytest.approx(1)


def test_one_point_many_seeds_is_a_paired_t_test_over_seeds() -> None:
    # One shared point has no point spread: the interval is the seeds' paired t interval (df 2).
    a, b = np.array([[1.0], [1.0], [0.0]]), np.array([[0.0], [0.0], [0.0]])
    ci = sps.ttest_rel(a[:, 0], b[:, 0]).confidence_interval()
    d = stats.paired_difference(a, b)
    assert d.estimate == pytest.approx(2 / 3) and d.n == 1 and math.isnan(d.se_points)
    assert (d.low, d.high) == pytest.approx((ci.low, ci.high)) and d.df == pytest.approx(2)
    # Its minimum detectable effect comes from the seed part alone.
    se = np.std([1, 1, 0], ddof=1) / math.sqrt(3)
    mde = (sps.t.ppf(0.975, 2) + sps.t.ppf(0.8, 2)) * se
    assert stats.minimum_detectable_effect(d) == pytest.approx(mde)


def test_a_single_pair_gets_the_unanimous_interval_of_one_pair() -> None:
    # Clopper–Pearson's upper bound for 0 of 1 is 0.975: the difference lies in [1 − 2·0.975, 1].
    d = stats.paired_difference(np.ones((1, 1)), np.zeros((1, 1)))
    assert d.estimate == 1 and (d.low, d.high) == pytest.approx((1 - 2 * 0.975, 1.0))


def test_two_seeds_hand_computed() -> None:
    # Per-point differences: seed 0: 1 1 0 (2/3), seed 1: 0 1 0 (1/3); estimate 1/2.
    a = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    b = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    d = stats.paired_difference(a, b)
    # Point part: seed-averaged differences (1/2, 1, 0), sd 1/2, / √3. Seed part: |2/3 − 1/3| / 2 = 1/6.
    sp, ss = 0.5 / math.sqrt(3), 1 / 6
    df = (sp**2 + ss**2) ** 2 / (sp**4 / 2 + ss**4 / 1)
    half = sps.t.ppf(0.975, df) * math.hypot(sp, ss)
    assert d.estimate == pytest.approx(0.5) and d.se_points == pytest.approx(sp)
    assert d.se_seeds == pytest.approx(ss) and d.df == pytest.approx(df)
    assert (d.low, d.high) == pytest.approx((0.5 - half, 0.5 + half))


def test_mde_of_an_undefined_difference_is_nan() -> None:
    d = stats.paired_difference(np.full((2, 3), np.nan), np.zeros((2, 3)))
    assert math.isnan(stats.minimum_detectable_effect(d))


# ------------------------------------------------------------------ summary differences


def test_summary_difference_keeps_its_counts_level_and_means() -> None:
    d = stats.summary_difference([0.6, 0.7, 0.8], [0.3] * 3, [0.5, 0.4, 0.6], [0.4] * 3, n=100, level=0.9)
    assert (d.n, d.seeds, d.level) == (100, 3, 0.9)
    assert (d.mean_a, d.mean_b) == pytest.approx((0.7, 0.5))


@pytest.mark.parametrize(
    "a_means,b_means,n",
    [
        ([0.6, None, 0.8], [0.5] * 3, 100),
        ([0.6, np.nan, 0.8], [0.5] * 3, 100),
        ([0.6] * 3, [0.5] * 3, 0),
        ([], [], 100),
    ],
)
def test_summary_difference_of_a_missing_seed_or_no_images_is_undefined(a_means, b_means, n) -> None:
    sds = [0.1] * len(a_means)
    for d in (
        stats.summary_difference(a_means, sds, b_means, sds, n=n, level=0.9),
        stats.summary_difference(b_means, sds, a_means, sds, n=n, level=0.9),
    ):
        assert _nan_everywhere(d, *NUMBERS)
        assert (d.n, d.seeds, d.level, d.significant) == (n, len(a_means), 0.9, 0)


def test_summary_difference_with_a_missing_spread_has_no_interval() -> None:
    d = stats.summary_difference([0.6, 0.7], [0.3, None], [0.5, 0.5], [0.4, 0.4], n=100)
    assert d.estimate == pytest.approx(0.15) and math.isnan(d.low) and math.isnan(d.high)
    d = stats.summary_difference([0.6, 0.7], [0.3, 0.3], [0.5, 0.5], [0.4, None], n=100)
    assert d.estimate == pytest.approx(0.15) and math.isnan(d.low) and math.isnan(d.high)


def test_summary_difference_on_one_image_is_a_paired_t_test_over_seeds() -> None:
    a, b = np.array([0.6, 0.9, 0.7]), np.array([0.5, 0.5, 0.5])
    d = stats.summary_difference(a, [0.0] * 3, b, [0.0] * 3, n=1)
    ci = sps.ttest_rel(a, b).confidence_interval()
    assert (d.low, d.high) == pytest.approx((ci.low, ci.high)) and d.df == pytest.approx(2)


def test_summary_difference_with_two_seeds_has_a_seed_part_with_one_df() -> None:
    d = stats.summary_difference([0.6, 0.8], [0.3, 0.3], [0.5, 0.5], [0.4, 0.4], n=100)
    sp, ss = 0.05, 0.1  # √(0.3² + 0.4²)/10; sd of (0.1, 0.3) is 0.1·√2, / √2
    df = (sp**2 + ss**2) ** 2 / (sp**4 / 99 + ss**4 / 1)
    assert d.se_seeds == pytest.approx(ss) and d.df == pytest.approx(df)


def test_summary_difference_with_a_standard_error_of_exactly_one() -> None:
    # sd 1 for both models on 2 images: SE = √2/√2 = 1, df 1 (no special case at SE = 1).
    d = stats.summary_difference([0.5], [1.0], [0.0], [1.0], n=2)
    half = sps.t.ppf(0.975, 1)
    assert (d.low, d.high) == pytest.approx((0.5 - half, 0.5 + half))


# ------------------------------------------------------------------ points and seeds needed


def _scan(make: callable, effect: float, start: int, stop: int) -> float:
    """The smallest m in [start, stop) whose comparison has MDE ≤ |effect|, by a plain scan."""
    for m in range(start, stop):
        if stats.minimum_detectable_effect(make(m)) <= abs(effect):
            return m
    return math.inf


def _points_case() -> stats.Difference:
    rng = np.random.default_rng(11)
    a = (rng.random((3, 120)) < 0.7).astype(float)
    b = (rng.random((3, 120)) < 0.6).astype(float)
    return stats.paired_difference(a, b)


@pytest.mark.parametrize("effect", [2.0, 0.5, 0.3, -0.3, 0.2])
def test_points_needed_is_the_smallest_n_of_a_linear_scan(effect: float) -> None:
    d = _points_case()
    sd = d.se_points * math.sqrt(d.n)
    make = lambda m: dataclasses.replace(d, se_points=sd / math.sqrt(m), n=m)  # noqa: E731
    assert stats.points_needed(d, effect) == _scan(make, effect, 2, 3000)


def test_points_needed_without_a_point_spread_or_an_effect_is_nan() -> None:
    unanimous = stats.paired_difference(np.ones((1, 30)), np.zeros((1, 30)))
    one_point = stats.paired_difference(np.array([[1.0], [1.0], [0.0]]), np.zeros((3, 1)))
    assert unanimous.se_points == 0 and math.isnan(one_point.se_points)
    for d, effect in ((unanimous, 0.1), (one_point, 0.5), (_points_case(), 0.0), (_points_case(), math.nan)):
        assert math.isnan(stats.points_needed(d, effect))


def _seeds_case(points: int = 200) -> stats.Difference:
    rng = np.random.default_rng(12)
    shift = np.array([[0.0], [0.15], [-0.1]])
    a = (rng.random((3, points)) < 0.6 + shift).astype(float)
    b = (rng.random((3, points)) < 0.55).astype(float)
    return stats.paired_difference(a, b)


@pytest.mark.parametrize("effect", [3.0, 0.4, 0.25, -0.25])
def test_seeds_needed_is_the_smallest_seed_count_of_a_linear_scan(effect: float) -> None:
    d = _seeds_case()
    sd = d.se_seeds * math.sqrt(d.seeds)
    make = lambda m: dataclasses.replace(d, se_seeds=sd / math.sqrt(m), seeds=m)  # noqa: E731
    assert stats.seeds_needed(d, effect) == _scan(make, effect, 2, 400)


def test_seeds_needed_with_one_point_scans_the_seed_part_alone() -> None:
    a, b = np.array([[1.0], [1.0], [0.0]]), np.zeros((3, 1))
    d = stats.paired_difference(a, b)
    sd = d.se_seeds * math.sqrt(3)
    make = lambda m: dataclasses.replace(d, se_seeds=sd / math.sqrt(m), seeds=m)  # noqa: E731
    assert stats.seeds_needed(d, 0.5) == _scan(make, 0.5, 2, 400) < math.inf


def test_seeds_needed_from_two_seeds() -> None:
    d = stats.paired_difference(*_two_seed_arrays())
    sd = d.se_seeds * math.sqrt(2)
    make = lambda m: dataclasses.replace(d, se_seeds=sd / math.sqrt(m), seeds=m)  # noqa: E731
    assert stats.seeds_needed(d, 0.4) == _scan(make, 0.4, 2, 400) < math.inf


def _two_seed_arrays() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(13)
    a = (rng.random((2, 300)) < np.array([[0.7], [0.9]])).astype(float)
    return a, (rng.random((2, 300)) < 0.6).astype(float)


@pytest.mark.parametrize("effect", [0.0, math.nan])
def test_seeds_needed_without_an_effect_or_a_seed_spread_is_nan(effect: float) -> None:
    assert math.isnan(stats.seeds_needed(_seeds_case(), effect))
    one_seed = stats.paired_difference(np.ones((1, 5)), np.array([[0.0, 1, 0, 1, 0]]))
    assert math.isnan(stats.seeds_needed(one_seed, 0.3))


# ------------------------------------------------------------------ McNemar


@pytest.mark.parametrize("alpha", [0.05, 0.01, 0.05 / 6, 0.3])
def test_mcnemar_min_discordant_against_the_exact_test(alpha: float) -> None:
    # The fewest one-sided discordant points with an exact two-sided p below alpha (p = 2·0.5^d).
    d = next(k for k in range(1, 100) if min(1.0, 2 * 0.5**k) < alpha)
    assert stats.mcnemar_min_discordant(alpha) == d
    assert (
        sps.binomtest(d, d, 0.5).pvalue < alpha <= sps.binomtest(d - 1, d - 1, 0.5).pvalue if d > 1 else True
    )


def test_mcnemar_needs_p_strictly_below_alpha() -> None:
    # 5 of 5 discordant points give p = 2·0.5⁵ = 0.0625 exactly: not below alpha = 0.0625.
    assert stats.mcnemar_min_discordant(0.0625) == 6


@pytest.mark.parametrize(
    "n,alpha,expected", [(6, 0.05, 1.0), (60, 0.05, 0.1), (400, 0.01, 8 / 400), (5, 0.05, None)]
)
def test_mcnemar_detectable_difference(n: int, alpha: float, expected: float | None) -> None:
    got = stats.mcnemar_detectable(n, alpha)
    if expected is None:
        assert isinstance(got, float) and math.isnan(got)
    else:
        assert got == pytest.approx(expected)


@pytest.mark.parametrize("effect", [1.0, 0.5, 0.05])
def test_points_needed_of_rare_disagreements_by_a_linear_scan(effect: float) -> None:
    # 2 of 200 points differ (sd 0.1): a full-size effect would show on 2 points already.
    a, b = np.ones((1, 200)), np.ones((1, 200))
    b[0, :2] = 0
    d = stats.paired_difference(a, b)
    sd = d.se_points * math.sqrt(d.n)
    make = lambda m: dataclasses.replace(d, se_points=sd / math.sqrt(m), n=m)  # noqa: E731
    assert stats.points_needed(d, effect) == _scan(make, effect, 2, 3000)
