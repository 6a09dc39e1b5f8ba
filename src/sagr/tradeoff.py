"""The λ trade-off: each regulariser's λ sweep scored alike, the rule that picks the main λ, and one
method's curve read at another's clean accuracy.

A regulariser's λ moves it along a robustness/accuracy trade-off, so "A is more robust than B" at one
λ each can be an artefact of a stronger effective penalty. The study therefore sweeps λ (config
``ablation.sweeps.<method>.lam``), shows clean accuracy against worst case per ε for every method
(`sagr.figures.tradeoff`), picks the main λ by one stated rule (`lam_rule`, settings in
``ablation.lambda_rule``) and compares SAGR with JR also at matched clean accuracy: one method's curve,
interpolated seed by seed at the clean accuracy of the other's model (`on_curve`).

Every sweep point of a dataset is scored on the same points with the same attacks at each ε (the
attacks every λ point of every method ran there), as the ablation scores its points; the rule's
baseline (Standard) is read on the same clean points and seeds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sagr.labels import CLEAN, ON_EVAL_POINTS, ON_TEST_SPLIT, WORST
from sagr.results import Results
from sagr.summaries import Blend, _main_runs, common_suites, proportion_summary, worst_points

PARAM = "lam"
# Clean accuracies are ratios of counts: "within max_clean_drop" must not fail on float rounding.
_TOLERANCE = 1e-9


def _lam_runs(res: Results, dataset: str) -> pd.DataFrame:
    """The λ sweep's runs of one dataset (every method that sweeps λ): method, lam, run, seed."""
    sw = res.sweeps
    ok = set(res.ok_runs()["run"])
    sw = sw[(sw["dataset"] == dataset) & (sw["param"] == PARAM) & sw["run"].isin(ok)]
    return pd.DataFrame(
        {
            "method": sw["method"],
            "lam": sw["value"].astype(float),
            "run": sw["run"],
            "seed": sw["seed"].astype(int),
        }
    ).reset_index(drop=True)


def lam_suites(res: Results, dataset: str) -> dict[float, list[str]]:
    """ε → the attacks every λ sweep point of the dataset ran at that L∞ budget."""
    runs = _lam_runs(res, dataset)
    return common_suites(res, dataset, list(runs["run"])) if not runs.empty else {}


def _shared(arrays: Mapping[str, np.ndarray | None]) -> np.ndarray | None:
    """Points evaluated in every array (None if an array is missing or their lengths differ)."""
    if not arrays or any(a is None for a in arrays.values()) or len({len(a) for a in arrays.values()}) != 1:
        return None
    return ~np.isnan(np.vstack(list(arrays.values()))).any(axis=0)


def lam_points(res: Results, baseline: str | None = None) -> pd.DataFrame:
    """Per dataset × method × λ × seed: clean accuracy and the worst case at each ε of the sweep.

    Clean on the points every sweep run (and `baseline`'s main runs at the sweep's seeds, given as
    method `baseline`, λ NaN) evaluated; worst case at each ε over `lam_suites` on the points every
    sweep run evaluated there. Columns: dataset, method, lam, run, seed, metric (`CLEAN` | `WORST`),
    eps, accuracy, n, n_correct, suite.
    """
    rows = []
    for dataset in res.datasets():
        runs = _lam_runs(res, dataset)
        if runs.empty:
            continue
        sweep = list(runs.itertuples(index=False))
        members = runs
        if baseline is not None:
            base = _main_runs(res, dataset, baseline)
            extra = [
                dict(method=baseline, lam=np.nan, run=base[s], seed=s)
                for s in sorted(set(runs["seed"]))
                if s in base
            ]
            members = pd.concat([runs, pd.DataFrame(extra)], ignore_index=True) if extra else runs
        entries = list(members.itertuples(index=False))
        clean = {e.run: res.point_correct(dataset, e.run, CLEAN) for e in entries}
        budgets = [(CLEAN, 0.0, CLEAN, clean, entries)]
        for eps, attacks in sorted(lam_suites(res, dataset).items()):
            worst = {e.run: worst_points(res, dataset, e.run, "linf", eps, attacks) for e in sweep}
            budgets.append((WORST, eps, ",".join(attacks), worst, sweep))
        for metric, eps, suite, arrays, scored in budgets:
            shared = _shared(arrays)
            if shared is None or not shared.any():
                continue
            for e in scored:
                v = arrays[e.run][shared]
                rows.append(
                    dict(
                        dataset=dataset,
                        method=e.method,
                        lam=e.lam,
                        run=e.run,
                        seed=int(e.seed),
                        metric=metric,
                        eps=eps,
                        accuracy=float(v.mean()),
                        n=int(shared.sum()),
                        n_correct=int(v.sum()),
                        suite=suite,
                    )
                )
    return pd.DataFrame(rows)


def lam_summary(points: pd.DataFrame) -> pd.DataFrame:
    """Mean, sd over seeds, n and 95 % Clopper–Pearson interval per dataset × method × λ × metric × ε."""
    if points.empty:
        return points
    prop = points.assign(n_eval=points["n"], points="all")
    return proportion_summary(prop, ["dataset", "method", "lam", "metric", "eps", "suite"])


# ---------------------------------------------------------------- the rule


def lam_rule(clean: pd.DataFrame, reference: float, max_clean_drop: float) -> dict[str, float]:
    """The largest λ per method whose clean accuracy is at most `max_clean_drop` below `reference`.

    `clean`: one row per method × λ with columns method, lam, clean (mean over the sweep's seeds).
    A method none of whose λ qualifies gets NaN: the rule picks nothing rather than its best miss.
    """
    out = {}
    for method, g in clean.groupby("method", sort=False):
        ok = g[g["clean"] >= reference - max_clean_drop - _TOLERANCE]
        out[method] = float(ok["lam"].max()) if len(ok) else float("nan")
    return out


def lam_choice(summary: pd.DataFrame, res: Results, max_clean_drop: float, baseline: str) -> pd.DataFrame:
    """Per dataset × swept method: the λ the rule picks from `summary` (`lam_summary` of
    `lam_points(res, baseline)`), the λ of the method's main runs, and whether they agree.

    Clean accuracy is read on the whole test split (training records) where every run has it, else on
    the sweep's clean evaluation points. Columns: dataset, method, chosen, configured, agrees,
    reference (the baseline's mean clean accuracy on those points and the sweep's seeds), clean_chosen,
    max_clean_drop, baseline, n_clean (points per run), clean_points ("test split" | "evaluation
    points").
    """
    if summary.empty:
        return pd.DataFrame()
    rows = []
    clean = summary[summary["metric"] == CLEAN]
    main = res.ok_runs()
    main = main[main["main"].astype(bool)]
    for dataset, g in clean.groupby("dataset", sort=False):
        ref = g.loc[g["method"] == baseline, "mean"]
        if ref.empty:
            continue
        sweep = g[g["method"] != baseline].rename(columns={"mean": "clean"})
        n_clean = int(g["n"].min())
        whole = _whole_split_clean(res, dataset, baseline)
        if whole is not None:  # the rule's margin is tenths of a point: decide it on the whole test split
            ref, sweep, n_clean = whole
        chosen = lam_rule(sweep, float(ref.iloc[0]), max_clean_drop)
        for method, lam in chosen.items():
            hp = main.loc[(main["dataset"] == dataset) & (main["method"] == method), "hp_lam"]
            configured = float(hp.iloc[0]) if len(hp) else float("nan")
            at = sweep[(sweep["method"] == method) & np.isclose(sweep["lam"], lam)]
            rows.append(
                dict(
                    dataset=dataset,
                    method=method,
                    chosen=lam,
                    configured=configured,
                    agrees=bool(np.isclose(lam, configured)),
                    reference=float(ref.iloc[0]),
                    clean_chosen=float(at["clean"].iloc[0]) if len(at) else float("nan"),
                    max_clean_drop=max_clean_drop,
                    baseline=baseline,
                    n_clean=n_clean,
                    clean_points=ON_TEST_SPLIT if whole is not None else ON_EVAL_POINTS,
                )
            )
    return pd.DataFrame(rows)


def _whole_split_clean(
    res: Results, dataset: str, baseline: str
) -> tuple[pd.Series, pd.DataFrame, int] | None:
    """(baseline's mean, rows method/lam/clean, n) of clean accuracy on the whole test split, mean over
    the sweep's seeds, from the training records; None unless every sweep run and the baseline's main
    run at each sweep seed has it, on one split size."""
    runs = _lam_runs(res, dataset)
    base = _main_runs(res, dataset, baseline)
    seeds = sorted(set(runs["seed"]))
    if runs.empty or not all(s in base for s in seeds):
        return None
    t = res.training[res.training["dataset"] == dataset].set_index("run")
    wanted = list(runs["run"]) + [base[s] for s in seeds]
    if not set(wanted) <= set(t.index):
        return None
    acc, n = t.loc[wanted, "test_accuracy"], t.loc[wanted, "n_test"]
    if acc.isna().any() or n.isna().any() or n.nunique() != 1:
        return None
    sweep = (
        runs.assign(clean=acc.loc[list(runs["run"])].astype(float).to_numpy())
        .groupby(["method", "lam"], sort=False, as_index=False)["clean"]
        .mean()
    )
    ref = pd.Series([float(acc.loc[[base[s] for s in seeds]].astype(float).mean())])
    return ref, sweep, int(n.iloc[0])


# ---------------------------------------------------------------- a point on another method's curve


def clean_by_run(res: Results, dataset: str, runs: list[str]) -> dict[str, float] | None:
    """Each run's clean accuracy: on the whole test split (training records) where every run has it
    on one split size, else on the clean evaluation points; None if a run has neither."""
    t = res.training[res.training["dataset"] == dataset].set_index("run")
    if set(runs) <= set(t.index):
        acc, n = t.loc[runs, "test_accuracy"], t.loc[runs, "n_test"]
        if not acc.isna().any() and not n.isna().any() and n.nunique() == 1:
            return {r: float(a) for r, a in acc.items()}
    out = {}
    for r in runs:
        a = res.point_correct(dataset, r, CLEAN)
        if a is None or np.isnan(a).all():
            return None
        out[r] = float(np.nanmean(a))
    return out


def interpolate(curve: list[tuple[str, float]], clean: float) -> Blend | None:
    """The point of a trade-off curve at clean accuracy `clean`, as a blend of its two neighbours.

    `curve`: (run, clean accuracy) in the order of λ. The curve is the polyline through its points in
    that order; the first segment whose clean range holds `clean` gives the blend ((run₁, 1 − w),
    (run₂, w)) with w = (clean − c₁) / (c₂ − c₁) (a single run where `clean` is one of the points).
    None outside the curve's clean range: the curve is never extrapolated."""
    for run, c in curve:
        if abs(c - clean) <= _TOLERANCE:
            return ((run, 1.0),)
    for (r1, c1), (r2, c2) in zip(curve, curve[1:]):
        if min(c1, c2) - _TOLERANCE <= clean <= max(c1, c2) + _TOLERANCE:
            w = (clean - c1) / (c2 - c1)
            return ((r1, 1.0 - w), (r2, w))
    return None


@dataclass(frozen=True)
class OnCurve:
    """A method's λ curve blended, seed by seed, at the clean accuracy of some target runs."""

    blends: tuple[Blend, ...]  # per seed, the curve's point at the target's clean accuracy
    targets: tuple[str, ...]  # per seed, the target run
    seeds: tuple[int, ...]
    clean: float  # the targets' mean clean accuracy
    missing: str = ""  # why no blend: a seed whose target lies outside the curve


def on_curve(res: Results, dataset: str, method: str, targets: Mapping[int, str]) -> OnCurve | None:
    """`method`'s λ curve at the clean accuracy of `targets` (seed → run), per seed: each seed's
    target against the curve of the same seed. None when no seed has both; `missing` says why a
    comparison cannot be made (a target outside the curve's clean range at some seed)."""
    runs = _lam_runs(res, dataset)
    runs = runs[runs["method"] == method]
    seeds = tuple(sorted(set(runs["seed"]) & set(targets)))
    if not seeds:
        return None
    clean = clean_by_run(res, dataset, list(runs["run"]) + [targets[s] for s in seeds])
    if clean is None:
        return None
    blends = []
    for s in seeds:
        at = runs[runs["seed"] == s].sort_values("lam")
        curve = [(r, clean[r]) for r in at["run"]]
        blend = interpolate(curve, clean[targets[s]])
        if blend is None:
            lo, hi = min(c for _, c in curve), max(c for _, c in curve)
            why = (
                f"seed {s}: clean {100 * clean[targets[s]]:.2f} % is outside the curve "
                f"({100 * lo:.2f}–{100 * hi:.2f} %)"
            )
            return OnCurve((), tuple(targets[s] for s in seeds), seeds, float("nan"), why)
        blends.append(blend)
    mean_clean = float(np.mean([clean[targets[s]] for s in seeds]))
    return OnCurve(tuple(blends), tuple(targets[s] for s in seeds), seeds, mean_clean)


def curve_targets(res: Results, dataset: str, method: str) -> dict[float, dict[int, str]]:
    """λ → (seed → run) of a method's λ sweep."""
    runs = _lam_runs(res, dataset)
    runs = runs[runs["method"] == method]
    out: dict[float, dict[int, str]] = {}
    for r in runs.itertuples(index=False):
        out.setdefault(float(r.lam), {})[int(r.seed)] = r.run
    return dict(sorted(out.items()))
