"""Quality floors: the published grade a model must reach before the report's numbers say anything
about its method (issue 16; ../shared/ANCHORS.md). A floor is checked on the pipeline's own worst case
(every attack of the suite, the reference's included) on every evaluated point, mean over seeds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from sagr.labels import CLEAN, WORST
from sagr.summaries import main_rows

FLOOR_COLUMNS = [
    "dataset",
    "method",
    "measure",
    "eps",
    "floor",
    "mean",
    "seed_min",
    "ci_low",
    "ci_high",
    "n",
    "seeds",
    "status",
    "source",
]


def floor_checks(config: Mapping[str, Any], summary: pd.DataFrame, per_seed: pd.DataFrame) -> pd.DataFrame:
    """One row per configured floor: measured mean over seeds (with its interval and n), the lowest
    seed, and ``status``: "pass" (mean ≥ floor), "fail", or "not run" (no such result).

    ``summary``: `summaries.robustness_summary`; ``per_seed``: rows (dataset, method, seed, attack,
    eps, accuracy) of the main runs, for the lowest seed.
    """
    rows = []
    datasets = config.get("datasets")
    # A report rendered from result files alone (no config) has no floors to check.
    for dataset, dcfg in datasets.items() if isinstance(datasets, Mapping) else []:
        for floor in dcfg.get("floors", []):
            method = floor["method"]
            for measure, eps, value in _measures(floor):
                attack = CLEAN if measure == "clean" else WORST
                hit = _at(summary, dataset, method, attack, eps)
                seeds = _at(per_seed, dataset, method, attack, eps)
                row = {
                    "dataset": dataset,
                    "method": method,
                    "measure": measure,
                    "eps": eps,
                    "floor": value,
                    "source": floor.get("source", ""),
                }
                if hit.empty:
                    rows.append({**row, "status": "not run"})
                    continue
                h = hit.iloc[0]
                rows.append(
                    {
                        **row,
                        "mean": float(h["mean"]),
                        "seed_min": float(seeds["accuracy"].min()) if not seeds.empty else np.nan,
                        "ci_low": float(h["ci_low"]),
                        "ci_high": float(h["ci_high"]),
                        "n": int(h["n"]),
                        "seeds": int(h["seeds"]),
                        "status": "pass" if float(h["mean"]) >= value else "fail",
                    }
                )
    return pd.DataFrame(rows, columns=FLOOR_COLUMNS)


def _at(df: pd.DataFrame, dataset: str, method: str, attack: str, eps: float | None) -> pd.DataFrame:
    """The rows of one dataset × method × attack (at ε, unless clean)."""
    rows = df[(df["dataset"] == dataset) & (df["method"] == method) & (df["attack"] == attack)]
    return rows if attack == CLEAN else rows[np.isclose(rows["eps"].astype(float), eps)]


def main_accuracies(records: pd.DataFrame, worst_case: pd.DataFrame) -> pd.DataFrame:
    """Per main run: (dataset, method, seed, attack, eps, accuracy) of every record and of the worst case
    (attack `WORST`), the per-seed input of :func:`floor_checks`."""
    worst = worst_case.assign(attack=WORST) if not worst_case.empty else worst_case
    return main_rows(records, worst, ["dataset", "method", "seed", "attack", "eps", "accuracy"])


def _measures(floor: Mapping[str, Any]) -> list[tuple[str, float | None, float]]:
    """(measure, ε, floor value) of one floor entry: clean accuracy and/or the worst case at ε."""
    out: list[tuple[str, float | None, float]] = []
    if "clean" in floor:
        out.append(("clean", None, float(floor["clean"])))
    if "worst" in floor:
        out.append(("worst", float(floor["eps"]), float(floor["worst"])))
    return out
