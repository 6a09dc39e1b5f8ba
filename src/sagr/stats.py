"""The report's statistics, all in one place: proportion intervals, seed spread, paired differences.

Two sources of uncertainty are kept apart everywhere:

- *point sampling*: a model's accuracy is measured on n test points, a sample of the test
  distribution; its 95 % interval is Clopper–Pearson (exact binomial, `scipy.stats.beta`);
- *seed spread*: models trained with different seeds differ; shown as the standard deviation
  over seeds.

A paired difference between two methods (same seeds, same points) combines both: the point part
from the per-point differences averaged over seeds, the seed part from the spread of the per-seed
differences, with Welch–Satterthwaite degrees of freedom (see `paired_difference`).

What a comparison could see: its *minimum detectable effect* (`minimum_detectable_effect`) is the
smallest true difference that its two-sided test at the interval's level would find with
probability `POWER`, from the interval's own standard error and degrees of freedom:
MDE = (t_{1−α/2, df} + t_{power, df}) · SE (Bloom, "Minimum detectable effects", Evaluation Review
19, 1995). `points_needed` and `seeds_needed` give the n or seeds at which the MDE falls to an
observed effect, the point part of the SE scaling as 1/√n and the seed part as 1/√seeds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

LEVEL = 0.95  # every interval in the report is a 95 % interval unless a claim says otherwise
POWER = 0.80  # power of the minimum detectable effect (the common convention in power analysis)


def standard_error(p: float, n: float) -> float:
    """Sampling standard error of a proportion p measured on n points (NaN without points)."""
    if not n or n <= 0 or p is None or math.isnan(p):
        return float("nan")
    return math.sqrt(max(p * (1.0 - p), 0.0) / n)


def clopper_pearson(k: float, n: float, level: float = LEVEL) -> tuple[float, float]:
    """Exact (Clopper–Pearson) interval of a proportion k/n; k may be a seed-mean (non-integer).

    For integer k this equals `scipy.stats.binomtest(k, n).proportion_ci(method="exact")`; a
    non-integer k (the mean correct count over seeds) uses the same beta quantiles.
    """
    if not n or n <= 0 or k is None or math.isnan(k):
        return float("nan"), float("nan")
    a = (1.0 - level) / 2
    lo = 0.0 if k <= 0 else float(sps.beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k >= n else float(sps.beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


@dataclass(frozen=True)
class Difference:
    """A paired difference A − B: estimate, interval, its parts and what it was computed on."""

    estimate: float
    low: float
    high: float
    se_points: float  # point-sampling part of the standard error
    se_seeds: float  # seed-spread part (NaN with one seed)
    df: float  # degrees of freedom of the t quantile
    n: int  # points shared by both methods in every seed
    seeds: int  # seeds both methods have
    level: float = LEVEL
    mean_a: float = float("nan")  # A's and B's own means on the compared points and seeds (the floor
    mean_b: float = float("nan")  # rule of `sagr.claims` reads them)

    @property
    def significant(self) -> int:
        """+1 if the interval lies above 0, −1 if below, 0 if it contains 0 (or is undefined)."""
        if math.isnan(self.low) or math.isnan(self.high):
            return 0
        return 1 if self.low > 0 else -1 if self.high < 0 else 0


def _se_df(se_points: float, n: float, se_seeds: float, seeds: float) -> tuple[float, float]:
    """SE = √(se_points² + se_seeds²) and its Welch–Satterthwaite degrees of freedom (inf if SE = 0).

    The seed part counts only with more than one seed (one seed shows no seed spread)."""
    parts = [(se_points, n - 1)]
    if seeds > 1 and not math.isnan(se_seeds):
        parts.append((se_seeds, seeds - 1))
    var = sum(se**2 for se, _ in parts)
    if var == 0:
        return 0.0, float("inf")
    denom = sum(se**4 / d for se, d in parts if d > 0 and se > 0)
    return math.sqrt(var), var**2 / denom if denom > 0 else float("inf")


def _quantile(p: float, df: float) -> float:
    """The t quantile at df (the normal one at infinite df)."""
    return float(sps.t.ppf(p, df)) if math.isfinite(df) else float(sps.norm.ppf(p))


def _t_interval(
    estimate: float, se_points: float, n: int, se_seeds: float, seeds: int, level: float
) -> tuple[float, float, float]:
    """estimate ± t·SE with SE² = se_points² + se_seeds², Welch–Satterthwaite df."""
    se, df = _se_df(se_points, n, se_seeds, seeds)
    if se == 0:
        return estimate, estimate, df
    half = _quantile(0.5 + level / 2, df) * se
    return estimate - half, estimate + half, df


def paired_difference(a: np.ndarray, b: np.ndarray, level: float = LEVEL) -> Difference:
    """Accuracy difference A − B from per-point correctness, paired over seeds and points.

    `a` and `b` are (seeds × points) arrays of 0/1 (NaN where a point was not evaluated), row s
    of both from seed s. Only points evaluated for both methods in every seed count.
    Estimate: the mean over seeds of the per-seed accuracy difference. Point part of the SE: the
    standard deviation over points of the per-point difference averaged over seeds, / √n (the
    paired, McNemar-like variance). Seed part: the standard deviation of the per-seed differences
    / √seeds. The seed part also contains the point noise that is not shared between seeds, so
    adding both parts is conservative.
    """
    a, b = np.atleast_2d(np.asarray(a, float)), np.atleast_2d(np.asarray(b, float))
    if a.shape != b.shape:
        raise ValueError(f"paired_difference: shapes differ ({a.shape} vs {b.shape})")
    shared = ~(np.isnan(a) | np.isnan(b)).any(axis=0)
    n, seeds = int(shared.sum()), a.shape[0]
    if n == 0 or seeds == 0:
        nan = float("nan")
        return Difference(nan, nan, nan, nan, nan, nan, n, seeds, level)
    d = a[:, shared] - b[:, shared]
    means = float(a[:, shared].mean()), float(b[:, shared].mean())
    per_seed = d.mean(axis=1)
    estimate = float(per_seed.mean())
    se_points = float(d.mean(axis=0).std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    se_seeds = float(per_seed.std(ddof=1) / math.sqrt(seeds)) if seeds > 1 else float("nan")
    lo, hi, df = _t_interval(estimate, 0.0 if math.isnan(se_points) else se_points, n, se_seeds, seeds, level)
    if np.all(d == d.flat[0]):
        lo, hi = _unanimous_interval(float(d.flat[0]), d.size, level)
    return Difference(estimate, lo, hi, se_points, se_seeds, df, n, seeds, level, *means)


def _unanimous_interval(value: float, pairs: int, level: float) -> tuple[float, float]:
    """Interval of A − B when every one of `pairs` (seed, point) pairs has the same difference.

    The t interval collapses to a point there ("0.0 [0.0, 0.0]"), though a few more points could
    disagree. The share of pairs unlike the observed ones is below Clopper–Pearson's upper bound u
    for 0 of `pairs`; each such pair moves the difference by at most 2 (from +1 to −1), or by at most
    1 around an observed 0. Seeds are pooled here, which is the optimistic side when they vary."""
    u = clopper_pearson(0, pairs, level)[1]
    if value == 0:
        return -u, u
    return (1.0 - 2 * u, 1.0) if value > 0 else (-1.0, -1.0 + 2 * u)


def summary_difference(
    a_means: np.ndarray,
    a_sds: np.ndarray,
    b_means: np.ndarray,
    b_sds: np.ndarray,
    n: int,
    level: float = LEVEL,
) -> Difference:
    """Difference A − B of a per-image metric from per-model summaries, paired over seeds.

    Rows are seeds (same seed in `a` and `b`); each model gives the mean and standard deviation of
    the metric over the same n images. Per-image values are not stored, so the point part treats
    the two models' images as independent (√(sd_a² + sd_b²)/√n, averaged over seeds and not
    reduced by the number of seeds, since every seed uses the same images), which is conservative
    when the two maps of an image are positively correlated.
    """
    a_means, b_means = np.asarray(a_means, float), np.asarray(b_means, float)
    a_sds, b_sds = np.asarray(a_sds, float), np.asarray(b_sds, float)
    seeds = len(a_means)
    if seeds == 0 or n <= 0 or np.isnan(a_means).any() or np.isnan(b_means).any():
        nan = float("nan")
        return Difference(nan, nan, nan, nan, nan, nan, n, seeds, level)
    per_seed = a_means - b_means
    estimate = float(per_seed.mean())
    se_points = float(np.sqrt(a_sds**2 + b_sds**2).mean() / math.sqrt(n))
    se_seeds = float(per_seed.std(ddof=1) / math.sqrt(seeds)) if seeds > 1 else float("nan")
    lo, hi, df = _t_interval(estimate, se_points, n, se_seeds, seeds, level)
    means = float(a_means.mean()), float(b_means.mean())
    return Difference(estimate, lo, hi, se_points, se_seeds, df, n, seeds, level, *means)


# ---------------------------------------------------------------- "no effect" as an answer


def equivalence_p(d: Difference, margin: float) -> float:
    """The two one-sided tests' (TOST) p-value that |A − B| < `margin`, from d's SE and df.

    Schuirmann's TOST (J. Pharmacokinet. Biopharm. 15, 1987): the larger of the one-sided p-values of
    H0: A − B ≤ −margin and H0: A − B ≥ +margin, each a t test with d's standard error and
    Welch–Satterthwaite degrees of freedom (those of d's interval). Below α it says "no effect as
    large as the margin" at level α, which is the (1 − 2α) interval lying inside ±margin. Where every
    pair agreed (SE 0) the p-value is the largest α whose `_unanimous_interval` at 1 − 2α still
    lies inside ±margin (found by bisection). NaN without an estimate or a positive margin.
    """
    if math.isnan(d.estimate) or not margin or margin <= 0 or math.isnan(margin):
        return float("nan")
    se_p = 0.0 if math.isnan(d.se_points) else d.se_points
    se, df = _se_df(se_p, d.n, d.se_seeds, d.seeds)
    if se == 0:
        return _unanimous_equivalence_p(d.estimate, d.n * d.seeds, margin)
    t_low, t_high = (d.estimate + margin) / se, (d.estimate - margin) / se
    sf = (lambda x: float(sps.t.sf(x, df))) if math.isfinite(df) else (lambda x: float(sps.norm.sf(x)))
    return max(sf(t_low), sf(-t_high))


def _unanimous_equivalence_p(value: float, pairs: int, margin: float) -> float:
    def inside(alpha: float) -> bool:
        lo, hi = _unanimous_interval(value, pairs, 1 - 2 * alpha)
        return -margin < lo and hi < margin

    if not inside(0.5 - 1e-9):
        return 1.0
    lo, hi = 1e-12, 0.5 - 1e-9
    if inside(lo):
        return lo
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if inside(mid) else (mid, hi)
    return hi


def equivalent(d: Difference, margin: float, alpha: float) -> bool:
    """TOST at level `alpha`: is |A − B| shown to be smaller than `margin`?"""
    p = equivalence_p(d, margin)
    return not math.isnan(p) and p < alpha


# ---------------------------------------------------------------- what a comparison could see


def _mde(se_points: float, n: float, se_seeds: float, seeds: float, level: float, power: float) -> float:
    """(t_{1−α/2} + t_{power}) · SE at the Welch–Satterthwaite df of these parts (α = 1 − level)."""
    se, df = _se_df(se_points, n, se_seeds, seeds)
    return (_quantile(0.5 + level / 2, df) + _quantile(power, df)) * se


def minimum_detectable_effect(d: Difference, power: float = POWER) -> float:
    """The smallest |A − B| that a two-sided test at d's level detects with probability `power`.

    From the same SE and df as d's interval. Where every pair agreed (SE 0; the interval is then
    `_unanimous_interval`'s), the interval's half-width takes the SE's place: half-width ·
    (z_{1−α/2} + z_{power}) / z_{1−α/2}. NaN when d has no estimate.
    """
    if math.isnan(d.estimate):
        return float("nan")
    se_p = 0.0 if math.isnan(d.se_points) else d.se_points
    if _se_df(se_p, d.n, d.se_seeds, d.seeds)[0] == 0:
        z = _quantile(0.5 + d.level / 2, math.inf)
        return (d.high - d.low) / 2 * (z + _quantile(power, math.inf)) / z
    return _mde(se_p, d.n, d.se_seeds, d.seeds, d.level, power)


def _smallest(fits: Callable[[int], bool], start: int) -> float:
    """The smallest integer m ≥ start with fits(m), by doubling then bisection (inf beyond 10⁹)."""
    if fits(start):
        return start
    lo, hi = start, 2 * start
    while not fits(hi):
        if hi > 10**9:
            return math.inf
        lo, hi = hi, 2 * hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if fits(mid) else (mid, hi)
    return hi


def points_needed(d: Difference, effect: float, power: float = POWER) -> float:
    """Points (per seed, at d's seeds) at which the MDE falls to |effect|; inf if the seed part alone
    is larger, NaN without an effect or a point part. The per-point spread stays as observed (point
    part √(n/n′)); the seed part, which also holds some point noise, is kept as is (conservative)."""
    if math.isnan(d.estimate) or not effect or math.isnan(effect):
        return float("nan")
    if math.isnan(d.se_points) or d.se_points == 0:  # no per-point spread to scale
        return float("nan")
    sd = d.se_points * math.sqrt(d.n)  # sd over points of the per-point difference

    def fits(m: int) -> bool:
        return _mde(sd / math.sqrt(m), m, d.se_seeds, d.seeds, d.level, power) <= abs(effect)

    if d.seeds > 1 and not math.isnan(d.se_seeds):
        if _mde(0.0, math.inf, d.se_seeds, d.seeds, d.level, power) > abs(effect):
            return math.inf
    return _smallest(fits, 2)


def seeds_needed(d: Difference, effect: float, power: float = POWER) -> float:
    """Seeds (at d's n points) at which the MDE falls to |effect|: the seed part scales as √(s/s′).

    NaN with one seed (no seed spread to scale) or without an effect; inf if the point part alone is
    larger than |effect|."""
    if math.isnan(d.estimate) or d.seeds < 2 or math.isnan(d.se_seeds) or not effect or math.isnan(effect):
        return float("nan")
    se_p = 0.0 if math.isnan(d.se_points) else d.se_points
    if _mde(se_p, d.n, 0.0, 1, d.level, power) > abs(effect):
        return math.inf
    sd = d.se_seeds * math.sqrt(d.seeds)

    def fits(m: int) -> bool:
        return _mde(se_p, d.n, sd / math.sqrt(m), m, d.level, power) <= abs(effect)

    return _smallest(fits, 2)


def mcnemar_min_discordant(alpha: float) -> int:
    """The fewest discordant points an exact two-sided McNemar test needs to reject at ``alpha``:
    the smallest d with p < alpha when all d fall on one side (p = binomtest(d, d, ½))."""
    d = 1
    while sps.binomtest(d, d, 0.5).pvalue >= alpha:
        d += 1
    return d


def mcnemar_detectable(n: int, alpha: float) -> float:
    """The smallest accuracy difference an exact McNemar test on n paired points could declare at
    ``alpha``: d/n for d = `mcnemar_min_discordant`, reached only when every discordant point
    falls on one side; NaN when n < d (no outcome on n points could reach alpha)."""
    d = mcnemar_min_discordant(alpha)
    return d / n if n >= d else float("nan")
