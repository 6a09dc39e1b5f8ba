"""Aggregation: numbers per dataset × method (× attack × ε) from `Results`, in plain columns.

Every summary row says on how many points (``n``) and seeds (``seeds``) it was computed, and
carries both uncertainties of `sagr.stats`: ``sd`` (seed spread) and ``ci_low``/``ci_high`` (the
95 % point-sampling interval). Accuracies are fractions in [0, 1]; display is `sagr.presentation`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from sagr import stats
from sagr.labels import CLEAN, SALIENCY_METRICS, WORST
from sagr.results import Results
from sagr.robustness import as_float
from sagr.robustness.budgets import linf_budgets

# The comparisons the study is about (issue 7): (A, B) reads "A − B".
PAIRS = [("sagr", "jr"), ("sagr", "igr"), ("sagr", "pgd_at"), ("jr", "pgd_at")]
SUMMARY_COLUMNS = [
    "dataset",
    "method",
    "attack",
    "norm",
    "eps",
    "mean",
    "sd",
    "seeds",
    "n",
    "n_max",
    "n_eval",
    "points",
    "k_mean",
    "ci_low",
    "ci_high",
    "apgd",
]


def _budget_worst(res: Results) -> pd.DataFrame:
    """Worst-case rows shaped like records (attack `WORST`), at the L∞ budgets only (`linf_budgets`:
    not the unbounded sanity attack, shown in its own column and in the masking checks, nor an L2
    radius; every worst case stays in the CSV).
    """
    wc = res.worst_case
    if wc.empty:
        return wc
    wc = linf_budgets(wc)
    points = np.where(wc["n"] >= wc["n_eval"], "all", "subset")
    # `apgd_strength` as the evaluation states it (for older files, as ModelResult.from_json derives it)
    return wc.assign(attack=WORST, kind=WORST, points=points, apgd=wc["apgd_strength"].astype(bool))


def proportion_summary(rows: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Mean and sd over seeds, n, and the Clopper–Pearson interval of the seed-mean count."""
    g = rows.groupby(list(by), sort=False, dropna=False)
    out = g.agg(
        mean=("accuracy", "mean"),
        sd=("accuracy", "std"),
        seeds=("seed", "nunique"),
        n=("n", "min"),
        n_max=("n", "max"),
        n_eval=("n_eval", "max"),
        points=("points", lambda s: ",".join(sorted(set(map(str, s))))),
        k_mean=("n_correct", "mean"),
    ).reset_index()
    # n differs between seeds only for old files; then the smallest n (the widest interval) counts
    k = np.where(out["n"] == out["n_max"], out["k_mean"], out["mean"] * out["n"])
    ci = [stats.clopper_pearson(kk, nn) for kk, nn in zip(k, out["n"], strict=True)]
    out["ci_low"] = [c[0] for c in ci]
    out["ci_high"] = [c[1] for c in ci]
    return out


def main_rows(records: pd.DataFrame, worst: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    """The main runs' rows of the records and of the worst case (attack `WORST`), columns ``cols``:
    one row per run × attack × ε, the per-seed input of every summary over seeds."""
    parts = [
        df[df["main"].astype(bool)].reindex(columns=list(cols)) for df in (records, worst) if not df.empty
    ]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(cols))


def robustness_summary(res: Results) -> pd.DataFrame:
    """Per dataset × method × attack × norm × ε over the main runs' seeds (`SUMMARY_COLUMNS`)."""
    cols = [
        "dataset",
        "method",
        "seed",
        "main",
        "attack",
        "norm",
        "eps",
        "accuracy",
        "n",
        "n_correct",
        "n_eval",
        "points",
    ]
    worst = _budget_worst(res)
    long = main_rows(res.records, worst, cols)
    if long.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    by = ["dataset", "method", "attack", "norm", "eps"]
    out = proportion_summary(long, by)
    if not worst.empty:  # a worst case is APGD-strength only if it is in every seed
        w = worst[worst["main"].astype(bool)]
        apgd = w.groupby(by, sort=False)["apgd"].all().rename("apgd").reset_index()
        out = out.merge(apgd, on=by, how="left")
    else:
        out["apgd"] = np.nan
    return out[SUMMARY_COLUMNS]


def curves(summary: pd.DataFrame) -> pd.DataFrame:
    """Worst case against ε (the L∞ budgets) per dataset × method, clean accuracy at ε = 0."""
    s = summary
    worst = linf_budgets(s[s["attack"] == WORST])
    clean = s[s["attack"] == CLEAN].assign(eps=0.0)
    return pd.concat([clean, worst], ignore_index=True).sort_values(["dataset", "method", "eps"])


def saliency_summary(res: Results) -> pd.DataFrame:
    """Per dataset × method × metric: mean, sd over seeds, images n, point-sampling 95 % interval.

    The interval is the seed-mean ± 1.96·(mean per-model image sd)/√n: the spread of a metric's
    mean over n images, the same images for every seed.
    """
    sal = res.saliency
    if sal.empty:
        return pd.DataFrame(
            columns=["dataset", "method", "metric", "mean", "sd", "seeds", "n", "ci_low", "ci_high"]
        )
    sal = sal[sal["main"].astype(bool)]
    rows = []
    for (dataset, method), g in sal.groupby(["dataset", "method"], sort=False):
        for metric in SALIENCY_METRICS:
            col = f"{metric}_mean"
            if col not in g or g[col].isna().all():
                continue
            vals = g[col].dropna()
            n = int(g["n_images"].min())
            half = 1.96 * float(g[f"{metric}_std"].mean()) / np.sqrt(n) if n else np.nan
            rows.append(
                dict(
                    dataset=dataset,
                    method=method,
                    metric=metric,
                    mean=float(vals.mean()),
                    sd=float(vals.std()),
                    seeds=len(vals),
                    n=n,
                    ci_low=float(vals.mean()) - half,
                    ci_high=float(vals.mean()) + half,
                )
            )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- per-point worst case


def worst_points(
    res: Results,
    dataset: str,
    run: str,
    norm: str,
    eps: float,
    attacks: Iterable[str] | None = None,
) -> np.ndarray | None:
    """Per-point worst case (1 robust, 0 broken, NaN not evaluated) of one run at one ε.

    With `attacks`, the worst case over exactly those attacks on the points they share
    (`OutcomeTable.worst`: the ablation's common suite). Otherwise the evaluation's own per-point
    worst case when it stored one (`worst_key`), else recomputed from the attacks its record lists.
    """
    table = res.outcomes(dataset, run)
    if table is None:
        return None
    if attacks is None:
        stored = table.stored_worst(norm, eps)
        if stored is not None:
            return as_float(stored)
        wc = res.worst_case
        row = wc[
            (wc["dataset"] == dataset)
            & (wc["run"] == run)
            & (wc["norm"] == norm)
            & np.isclose(wc["eps"], eps)
        ]
        if row.empty:
            return None
        attacks = [a for a in row["attacks"].iloc[0].split(",") if a]
    attacks = list(attacks)
    if not attacks or not all(table.has(a, eps, norm) for a in attacks):
        return None
    return as_float(table.worst(eps, attacks, norm))


#: A weighted mix of runs of one seed (weights sum to 1): a point between two models of a curve.
Blend = tuple[tuple[str, float], ...]
#: One side of a paired comparison at one seed: a run, or a blend of runs.
Side = str | Blend


def components(side: Side) -> Blend:
    """(run, weight) pairs of a side: a plain run has weight 1."""
    return ((side, 1.0),) if isinstance(side, str) else side


def _main_runs(res: Results, dataset: str, method: str) -> dict[int, str]:
    """seed → run of a method's main runs on a dataset."""
    r = res.ok_runs()
    r = r[(r["dataset"] == dataset) & (r["method"] == method) & r["main"].astype(bool)]
    return {int(s): run for s, run in zip(r["seed"], r["run"], strict=True)}


def _accuracy_points(
    res: Results,
    dataset: str,
    run: str,
    attack: str,
    norm: str,
    eps: float,
    suite: Sequence[str] | None,
) -> np.ndarray | None:
    if attack == CLEAN:
        return res.point_correct(dataset, run, CLEAN)
    return worst_points(res, dataset, run, norm, eps, suite)


def compare_runs(
    res: Results,
    dataset: str,
    runs_a: Sequence[Side],
    runs_b: Sequence[Side],
    attack: str,
    norm: str,
    eps: float,
    suite: Sequence[str] | None = None,
    level: float = stats.LEVEL,
) -> stats.Difference | None:
    """Paired accuracy difference of two lists of runs (row i of both from the same seed).

    A side may be a `Blend`: its per-point outcome is the weighted mean of its runs' (a point on the
    straight segment between two models of a trade-off curve, `sagr.tradeoff.curve_blend`).

    `suite`: take the worst case over exactly these attacks (the ablation's common suite).
    """

    def points(side: Side) -> np.ndarray | None:
        parts = [
            (_accuracy_points(res, dataset, r, attack, norm, eps, suite), w) for r, w in components(side)
        ]
        if any(x is None for x, _ in parts) or len({len(x) for x, _ in parts}) != 1:
            return None
        return sum(w * x for x, w in parts)

    a, b = [points(r) for r in runs_a], [points(r) for r in runs_b]
    if not a or any(x is None for x in a + b) or len({len(x) for x in a + b}) != 1:
        return None
    return stats.paired_difference(np.vstack(a), np.vstack(b), level)


def compare_saliency(
    res: Results,
    dataset: str,
    runs_a: Sequence[Side],
    runs_b: Sequence[Side],
    metric: str,
    level: float = stats.LEVEL,
) -> stats.Difference | None:
    """Paired difference of a saliency metric's per-model mean (row i of both: same seed).

    A `Blend` side takes the weighted mean of its runs' means and, for its per-image spread, the
    weighted mean of their standard deviations (an upper bound of the blend's: the triangle inequality)."""
    sal = res.saliency[res.saliency["dataset"] == dataset].set_index("run")
    col = f"{metric}_mean"
    used = [r for side in [*runs_a, *runs_b] for r, _ in components(side)]
    if col not in sal or any(r not in sal.index for r in used) or sal.loc[used, col].isna().any():
        return None

    def side_stats(sides: Sequence[Side]) -> tuple[np.ndarray, np.ndarray]:
        means = [sum(w * sal.at[r, col] for r, w in components(s)) for s in sides]
        sds = [sum(w * sal.at[r, f"{metric}_std"] for r, w in components(s)) for s in sides]
        return np.asarray(means, float), np.asarray(sds, float)

    n = int(sal.loc[used, "n_images"].min())
    (ma, sa), (mb, sb) = side_stats(runs_a), side_stats(runs_b)
    return stats.summary_difference(ma, sa, mb, sb, n, level)


def _diff_row(base: dict, d: stats.Difference | None) -> dict | None:
    if d is None:
        return None
    return dict(
        base,
        estimate=d.estimate,
        low=d.low,
        high=d.high,
        se_points=d.se_points,
        se_seeds=d.se_seeds,
        df=d.df,
        n=d.n,
        seeds=d.seeds,
        significant=d.significant,
    )


def paired_differences(res: Results, pairs: Sequence[tuple[str, str]] = PAIRS) -> pd.DataFrame:
    """A − B for every pair, dataset, budget (worst case per ε, clean) and saliency metric.

    Paired over the seeds both methods have and the points both were evaluated on. Columns:
    dataset, a, b, quantity ("accuracy" | "saliency"), metric (`WORST`, `CLEAN` or a saliency
    metric), norm, eps, estimate, low, high, se_points, se_seeds, df, n, seeds, significant.
    """
    rows = []
    wc = _budget_worst(res)
    for dataset in res.datasets():
        eps_list = sorted(wc.loc[wc["dataset"] == dataset, "eps"].unique()) if not wc.empty else []
        for a, b in pairs:
            ra, rb = _main_runs(res, dataset, a), _main_runs(res, dataset, b)
            seeds = sorted(set(ra) & set(rb))
            if not seeds:
                continue
            runs_a, runs_b = [ra[s] for s in seeds], [rb[s] for s in seeds]
            base = dict(dataset=dataset, a=a, b=b)
            budgets = [(CLEAN, "none", 0.0)] + [(WORST, "linf", e) for e in eps_list]
            for attack, norm, eps in budgets:
                rows.append(
                    _diff_row(
                        dict(base, quantity="accuracy", metric=attack, norm=norm, eps=eps),
                        compare_runs(res, dataset, runs_a, runs_b, attack, norm, eps),
                    )
                )
            for metric in SALIENCY_METRICS:
                rows.append(
                    _diff_row(
                        dict(base, quantity="saliency", metric=metric, norm="none", eps=np.nan),
                        compare_saliency(res, dataset, runs_a, runs_b, metric),
                    )
                )
    return pd.DataFrame([r for r in rows if r is not None])


# ---------------------------------------------------------------- ablation


def common_suites(res: Results, dataset: str, runs: Sequence[str]) -> dict[float, list[str]]:
    """ε → the attacks every run ran at that L∞ budget (budgets < 1 that all runs were attacked at)."""
    rec = res.records
    r = linf_budgets(rec[(rec["dataset"] == dataset) & rec["run"].isin(list(runs))])
    common = {}
    for e, f in r.groupby("eps"):
        if f["run"].nunique() == len(set(runs)):
            attacks = set.intersection(*[set(h["attack"]) for _, h in f.groupby("run")])
            if attacks:
                common[float(e)] = sorted(attacks)
    return common


# ---------------------------------------------------------------- choice of the estimator
