"""The report's statistics, all in one place: proportion intervals, seed spread, paired differences.

Two sources of uncertainty are kept apart everywhere:

- *point sampling*: a model's accuracy is measured on n test points, a sample of the test
  distribution; its 95 % interval is Clopper–Pearson (exact binomial, `scipy.stats.beta`);
- *seed spread*: models trained with different seeds differ; shown as the standard deviation
  over seeds.

A paired difference between two methods (same seeds, same points) combines both: the point part
from the per-point differences averaged over seeds, the seed part from the spread of the per-seed
differences, with Welch–Satterthwaite degrees of freedom (see `paired_difference`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

LEVEL = 0.95  # every interval in the report is a 95 % interval unless a claim says otherwise


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

    @property
    def significant(self) -> int:
        """+1 if the interval lies above 0, −1 if below, 0 if it contains 0 (or is undefined)."""
        if math.isnan(self.low) or math.isnan(self.high):
            return 0
        return 1 if self.low > 0 else -1 if self.high < 0 else 0


def _t_interval(
    estimate: float, se_points: float, n: int, se_seeds: float, seeds: int, level: float
) -> tuple[float, float, float]:
    """estimate ± t·SE with SE² = se_points² + se_seeds², Welch–Satterthwaite df."""
    parts = [(se_points, n - 1)]
    if seeds > 1 and not math.isnan(se_seeds):
        parts.append((se_seeds, seeds - 1))
    var = sum(se**2 for se, _ in parts)
    if var == 0:
        return estimate, estimate, float("inf")
    denom = sum(se**4 / d for se, d in parts if d > 0 and se > 0)
    df = var**2 / denom if denom > 0 else float("inf")
    q = float(sps.t.ppf(0.5 + level / 2, df)) if math.isfinite(df) else float(sps.norm.ppf(0.5 + level / 2))
    half = q * math.sqrt(var)
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
    per_seed = d.mean(axis=1)
    estimate = float(per_seed.mean())
    se_points = float(d.mean(axis=0).std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    se_seeds = float(per_seed.std(ddof=1) / math.sqrt(seeds)) if seeds > 1 else float("nan")
    lo, hi, df = _t_interval(estimate, 0.0 if math.isnan(se_points) else se_points, n, se_seeds, seeds, level)
    if np.all(d == d.flat[0]):
        lo, hi = _unanimous_interval(float(d.flat[0]), d.size, level)
    return Difference(estimate, lo, hi, se_points, se_seeds, df, n, seeds, level)


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
    return Difference(estimate, lo, hi, se_points, se_seeds, df, n, seeds, level)
