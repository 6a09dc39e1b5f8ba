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
    """Worst-case rows shaped like records (attack `WORST`), budgets only.

    ε ≥ 1 covers all of [0,1] pixel space: the unbounded sanity attack, shown in its own column
    and in the masking checks, not a budget to take a worst case at (it stays in the CSV).
    """
    wc = res.worst_case
    if wc.empty:
        return wc
    wc = wc[wc["eps"] < 1]
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
    """Worst case against ε (L∞) per dataset × method, clean accuracy at ε = 0."""
    s = summary
    worst = s[(s["attack"] == WORST) & (s["norm"] == "linf")]
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
        eps_list = (
            sorted(wc.loc[(wc["dataset"] == dataset) & (wc["norm"] == "linf"), "eps"].unique())
            if not wc.empty
            else []
        )
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


def ablation_suite(res: Results, dataset: str, runs: Sequence[str]) -> tuple[float | None, list[str]]:
    """The largest L∞ budget every run ran an attack at, and the attacks all of them ran there."""
    common = common_suites(res, dataset, runs)
    if not common:
        return None, []
    eps = max(common)
    return eps, common[eps]


def ablation_points(res: Results) -> pd.DataFrame:
    """Per sweep point and seed: clean, worst case at the largest common ε, and Gini.

    Within one (dataset, swept parameter) every point is scored with the same suite (the attacks
    every point of the sweep ran at that ε) on the same points (those all of them evaluated), so
    the default point, which is also a main run with the full suite, is not scored stronger; a
    parameter swept for several methods (λ) is one sweep per method, scored alike.
    Columns: dataset, method, param, value, run, seed, metric (`CLEAN`, `WORST`, "gini"), eps, accuracy
    (the metric's value), n, n_correct, sd_points (per-image sd, saliency), suite.
    """
    sw = res.sweeps
    if sw.empty:
        return pd.DataFrame()
    ok = set(res.ok_runs()["run"])
    rec = res.records
    rows = []
    for (dataset, param), g in sw.groupby(["dataset", "param"], sort=False):
        g = g[g["run"].isin(ok)]
        runs = list(g["run"])
        eps, attacks = ablation_suite(res, dataset, runs)
        worst = {}
        if eps is not None:
            worst = {run: worst_points(res, dataset, run, "linf", eps, attacks) for run in runs}
        shared = None
        if worst and all(v is not None for v in worst.values()):
            shared = ~np.isnan(np.vstack(list(worst.values()))).any(axis=0)
        suite = ",".join(attacks)
        for row in g.itertuples():
            base = dict(
                dataset=dataset, method=row.method, param=param, value=row.value, run=row.run, seed=row.seed
            )
            clean = rec[(rec["dataset"] == dataset) & (rec["run"] == row.run) & (rec["attack"] == CLEAN)]
            if len(clean):
                c = clean.iloc[0]
                rows.append(
                    dict(
                        base,
                        metric=CLEAN,
                        eps=0.0,
                        accuracy=c["accuracy"],
                        n=c["n"],
                        n_correct=c["n_correct"],
                        sd_points=np.nan,
                        suite=CLEAN,
                    )
                )
            if shared is not None and shared.any():
                w = worst[row.run][shared]
                rows.append(
                    dict(
                        base,
                        metric=WORST,
                        eps=eps,
                        accuracy=float(w.mean()),
                        n=int(shared.sum()),
                        n_correct=int(w.sum()),
                        sd_points=np.nan,
                        suite=suite,
                    )
                )
            s = res.saliency[(res.saliency["dataset"] == dataset) & (res.saliency["run"] == row.run)]
            if len(s) and "gini_mean" in s and not pd.isna(s["gini_mean"].iloc[0]):
                rows.append(
                    dict(
                        base,
                        metric="gini",
                        eps=np.nan,
                        accuracy=float(s["gini_mean"].iloc[0]),
                        n=int(s["n_images"].iloc[0]),
                        n_correct=np.nan,
                        sd_points=float(s["gini_std"].iloc[0]),
                        suite="",
                    )
                )
    return pd.DataFrame(rows)


def ablation_summary(points: pd.DataFrame) -> pd.DataFrame:
    """Mean, sd over seeds, n and 95 % point-sampling interval per method, sweep value and metric."""
    if points.empty:
        return points
    prop = points[points["metric"] != "gini"].assign(n_eval=lambda d: d["n"], points="all")
    out = [proportion_summary(prop, ["dataset", "method", "param", "value", "metric", "eps", "suite"])]
    gini = points[points["metric"] == "gini"]
    if not gini.empty:
        g = (
            gini.groupby(["dataset", "method", "param", "value", "metric"], sort=False)
            .agg(
                mean=("accuracy", "mean"),
                sd=("accuracy", "std"),
                seeds=("seed", "nunique"),
                n=("n", "min"),
                sd_points=("sd_points", "mean"),
            )
            .reset_index()
        )
        half = 1.96 * g["sd_points"] / np.sqrt(g["n"])
        out.append(g.assign(ci_low=g["mean"] - half, ci_high=g["mean"] + half, suite="", eps=np.nan))
    return pd.concat(out, ignore_index=True)


def sweep_params(points: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Swept parameters split into numeric ones (line plots) and categorical ones (tables)."""
    if points.empty:
        return [], []
    numeric, categorical = [], []
    for param, g in points.groupby("param", sort=False):
        is_num = all(
            isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
            for v in g["value"]
        )
        (numeric if is_num else categorical).append(param)
    return numeric, categorical


def sweep_runs(
    res: Results, dataset: str, param: str, method: str | None = None
) -> dict[object, dict[int, str]]:
    """value → (seed → run) of one sweep (of one method's, where several methods sweep `param`)."""
    sw = res.sweeps
    sw = sw[(sw["dataset"] == dataset) & (sw["param"] == param) & sw["run"].isin(set(res.ok_runs()["run"]))]
    if method is not None:
        sw = sw[sw["method"] == method]
    out: dict[object, dict[int, str]] = {}
    for r in sw.itertuples():
        out.setdefault(r.value, {})[int(r.seed)] = r.run
    return out


# ---------------------------------------------------------------- choice of the estimator

# Issue 12's rule for the default estimator: the fastest one whose worst case at every ε lies inside
# the confidence interval of this one's (the estimator the paper's method uses).
BASE_ESTIMATOR = "projection"


def _estimator_suites(res: Results, dataset: str, runs: Sequence[str]) -> list[tuple[float, list[str], bool]]:
    """(ε, attacks, own) per L∞ budget < 1: with ``own``, every run's worst case ran these same attacks
    (its stored per-point worst case is used as it is); else the attacks all of them ran there."""
    wc = res.worst_case
    wc = linf_budgets(wc[(wc["dataset"] == dataset) & wc["run"].isin(list(runs))])
    out = []
    for eps, attacks in sorted(common_suites(res, dataset, runs).items()):
        at = wc[np.isclose(wc["eps"], eps)]
        suites = {frozenset(str(a).split(",")) for a in at["attacks"]}
        own = at["run"].nunique() == len(set(runs)) and len(suites) == 1
        out.append((eps, sorted(next(iter(suites))) if own else attacks, own))
    return out


def estimator_check(res: Results, base: str = BASE_ESTIMATOR) -> pd.DataFrame:
    """Worst case at every ε of each estimator of an ``estimator`` sweep, against the base's interval.

    Per dataset and method with an estimator sweep, on the seeds every estimator has: at each L∞
    budget ε < 1, each run's own worst case where all the sweep's runs ran the same attacks there,
    else the worst case over the attacks all of them ran (as the ablation scores its points), on
    the points all of them evaluated; mean over seeds with the 95 % Clopper–Pearson interval of the
    seed-mean count. ``within``: the estimate lies inside the base estimator's interval (NaN for the
    base); ``default``: the estimator the method's main runs trained with (the config's default; ""
    if none says). Columns: dataset, method, estimator, eps, mean, sd, seeds, n, ci_low, ci_high,
    suite, base, base_low, base_high, within, default.
    """
    sw = res.sweeps
    sw = sw[(sw["param"] == "estimator") & sw["run"].isin(set(res.ok_runs()["run"]))]
    rows = []
    for (dataset, method), g in sw.groupby(["dataset", "method"], sort=False):
        by_value = {v: set(h["seed"]) for v, h in g.groupby("value", sort=False)}
        if base not in by_value or len(by_value) < 2:
            continue
        seeds = set.intersection(*by_value.values())
        g = g[g["seed"].isin(seeds)]
        for eps, attacks, own in _estimator_suites(res, dataset, list(g["run"])):
            worst = {
                run: worst_points(res, dataset, run, "linf", eps, None if own else attacks)
                for run in g["run"]
            }
            if any(v is None for v in worst.values()):
                continue
            shared = ~np.isnan(np.vstack(list(worst.values()))).any(axis=0)
            if not shared.any():
                continue
            for row in g.itertuples():
                w = worst[row.run][shared]
                rows.append(
                    dict(
                        dataset=dataset,
                        method=method,
                        estimator=row.value,
                        eps=eps,
                        seed=row.seed,
                        accuracy=float(w.mean()),
                        n=int(shared.sum()),
                        n_correct=int(w.sum()),
                        n_eval=int(shared.sum()),
                        points="all",
                        suite=",".join(attacks),
                    )
                )
    if not rows:
        return pd.DataFrame()
    out = proportion_summary(pd.DataFrame(rows), ["dataset", "method", "estimator", "eps", "suite"])
    ref = out[out["estimator"] == base].set_index(["dataset", "method", "eps"])
    key = pd.MultiIndex.from_frame(out[["dataset", "method", "eps"]])
    out["base"] = base
    out["base_low"] = ref["ci_low"].reindex(key).to_numpy()
    out["base_high"] = ref["ci_high"].reindex(key).to_numpy()
    inside = (out["mean"] >= out["base_low"]) & (out["mean"] <= out["base_high"])
    out["within"] = [np.nan if e == base else bool(i) for e, i in zip(out["estimator"], inside, strict=True)]
    main = res.ok_runs()
    main = main[main["main"].astype(bool)]
    defaults = (
        main.dropna(subset=["hp_estimator"]).groupby(["dataset", "method"])["hp_estimator"].first()
        if "hp_estimator" in main
        else pd.Series(dtype=object)
    )
    out["default"] = [defaults.get((d, m), "") for d, m in zip(out["dataset"], out["method"], strict=True)]
    return out[
        [
            "dataset",
            "method",
            "estimator",
            "eps",
            "mean",
            "sd",
            "seeds",
            "n",
            "ci_low",
            "ci_high",
            "suite",
            "base",
            "base_low",
            "base_high",
            "within",
            "default",
        ]
    ]
