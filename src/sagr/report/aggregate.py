"""What the report computes from `Results` once (summaries, claims, readings, λ choice) and the figures it writes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sagr import claims as C
from sagr import figures, sweeps
from sagr import readings as R
from sagr import summaries as S
from sagr import tradeoff as T
from sagr.convergence import convergence
from sagr.files import read_json, read_npz
from sagr.labels import (
    WORST,
    method_label,
    sorted_methods,
)
from sagr.results import Results


@dataclass
class Summaries:
    """Everything the report computes from `Results`, in plain columns (see `sagr.summaries`)."""

    robustness: pd.DataFrame
    curves: pd.DataFrame
    saliency: pd.DataFrame
    paired: pd.DataFrame
    ablation_points: pd.DataFrame
    ablation: pd.DataFrame
    claims: pd.DataFrame
    estimators: pd.DataFrame
    lam_points: pd.DataFrame = field(default_factory=pd.DataFrame)
    lam: pd.DataFrame = field(default_factory=pd.DataFrame)
    lam_choice: pd.DataFrame = field(default_factory=pd.DataFrame)
    convergence: pd.DataFrame = field(default_factory=pd.DataFrame)
    readings: pd.DataFrame = field(default_factory=pd.DataFrame)
    smallest_effect: Mapping | None = None

    def tables(self) -> dict[str, pd.DataFrame]:
        """CSV name → table."""
        return {
            "robustness_summary": self.robustness,
            "saliency_summary": self.saliency,
            "paired_differences": self.paired,
            "ablation_points": self.ablation_points,
            "ablation_summary": self.ablation,
            "claims": self.claims,
            "estimator_check": self.estimators,
            "lambda_points": self.lam_points,
            "lambda_summary": self.lam,
            "lambda_choice": self.lam_choice,
            "convergence": self.convergence,
            "readings": self.readings,
        }


def summarize(
    res: Results, lambda_rule: Mapping | None = None, smallest_effect: Mapping | None = None
) -> Summaries:
    """All aggregates of one result set; `lambda_rule` (config ``ablation.lambda_rule``) picks λ;
    `smallest_effect` (config ``claims.smallest_effect``) gives the claims their equivalence margins."""
    margins = {k: v["value"] for k, v in (smallest_effect or {}).items()}
    robustness = S.robustness_summary(res)
    points = sweeps.ablation_points(res)
    lam_points = T.lam_points(res, lambda_rule["baseline"] if lambda_rule else None)
    lam = T.lam_summary(lam_points)
    choice = (
        T.lam_choice(lam, res, lambda_rule["max_clean_drop"], lambda_rule["baseline"])
        if lambda_rule
        else pd.DataFrame()
    )
    return Summaries(
        robustness=robustness,
        curves=S.curves(robustness),
        saliency=S.saliency_summary(res),
        paired=S.paired_differences(res),
        ablation_points=points,
        ablation=sweeps.ablation_summary(points),
        claims=C.evaluate(res, margins=margins),
        estimators=sweeps.estimator_check(res),
        lam_points=lam_points,
        lam=lam,
        lam_choice=choice,
        convergence=convergence(res.history),
        readings=R.evaluate(res, margins),
        smallest_effect=smallest_effect,
    )


def write_figures(
    res: Results, summ: Summaries, maps: Mapping[tuple[str, str], Mapping], fig_dir: Path
) -> dict[str, Any]:
    """Write every figure under fig_dir; returns their stems: curves, ablation[param], saliency."""
    out: dict[str, Any] = {"curves": None, "ablation": {}, "saliency": {}, "tradeoff": None, "training": {}}
    for dataset in res.datasets():
        if not res.history.empty and (res.history["dataset"] == dataset).any():
            out["training"][dataset] = figures.training_curves(
                res.history, summ.convergence, dataset, fig_dir
            )
    if not summ.curves.empty:
        out["curves"] = figures.robust_vs_eps(summ.curves, res.datasets(), fig_dir)
    if not summ.lam.empty and (summ.lam["metric"] == WORST).any():
        c = summ.lam_choice
        ref = (
            {r.dataset: (r.reference, r.reference - r.max_clean_drop) for r in c.itertuples()}
            if len(c)
            else None
        )
        out["tradeoff"] = figures.tradeoff(summ.lam, res.datasets(), fig_dir, ref)
    numeric, _ = sweeps.sweep_params(summ.ablation_points)
    for param in numeric:
        out["ablation"][param] = figures.ablation(summ.ablation, param, res.datasets(), fig_dir)
    for dataset in res.datasets():
        rows = [
            (label, maps[(dataset, run)])
            for label, run in saliency_rows(res, dataset)
            if (dataset, run) in maps
        ]
        if rows:
            out["saliency"][dataset] = figures.saliency_grid(rows, dataset, fig_dir)
    return out


def saliency_rows(res: Results, dataset: str) -> list[tuple[str, str]]:
    """(method label, run) of the lowest-seed main run of each method: the figure's rows."""
    r = res.ok_runs()
    r = r[(r["dataset"] == dataset) & r["main"].astype(bool)].sort_values("seed")
    first = r.drop_duplicates("method")
    return [
        (method_label(m), run)
        for m, run in sorted(
            zip(first["method"], first["run"], strict=True),
            key=lambda t: sorted_methods(first["method"]).index(t[0]),
        )
    ]


def load_maps(res: Results) -> dict[tuple[str, str], Any]:
    """maps.npz of the runs the saliency figure shows (each method's lowest-seed main run)."""
    maps = {}
    for dataset in res.datasets():
        for _, run in saliency_rows(res, dataset):
            path = res.maps.get((dataset, run))
            if path is None:
                continue
            if not Path(path).is_file():
                raise FileNotFoundError(f"missing result file {path} for run {run!r} (dataset {dataset!r})")
            maps[(dataset, run)] = read_npz(path)
    return maps


def load_benchmark(path: Path) -> dict | None:
    """cost.json if the benchmark ran, else None (the cost section then shows training only)."""
    path = Path(path)
    return read_json(path) if path.is_file() else None
