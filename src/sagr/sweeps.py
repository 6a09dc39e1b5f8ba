"""The ablation sweeps (one parameter varied around the main run, per seed) and the estimator check (SAGR's gradient estimators against the base estimator)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sagr.labels import CLEAN, WORST
from sagr.results import Results
from sagr.robustness.budgets import linf_budgets
from sagr.summaries import common_suites, proportion_summary, worst_points


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
