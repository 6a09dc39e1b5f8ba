"""Quality floors: the published grade a model must reach before the report's numbers say anything
about its method (issue 16; ../shared/ANCHORS.md). A robustness floor is checked on the pipeline's own
worst case (every attack of the suite, the reference's included) on every evaluated point, mean over
seeds. A clean floor is checked on the whole test split (n = 10,000 on MNIST) where the training
record has it, as the published clean accuracies are: the evaluation subset's few hundred points
would decide a floor a few tenths away by which points were drawn."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from sagr.labels import CLEAN, ON_EVAL_POINTS, ON_TEST_SPLIT, WORST
from sagr.summaries import main_rows, proportion_summary

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
    "points",
    "status",
    "source",
]


def floor_checks(
    floors: Mapping[str, Sequence[Mapping[str, Any]]],
    summary: pd.DataFrame,
    per_seed: pd.DataFrame,
    test_clean: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per floor (``floors``: dataset → the config's ``datasets.<d>.floors``): measured mean over seeds (with its interval and n), the lowest
    seed, and ``status``: "pass" (mean ≥ floor), "fail", or "not run" (no such result).

    ``summary``: `summaries.robustness_summary`; ``per_seed``: rows (dataset, method, seed, attack,
    eps, accuracy) of the main runs, for the lowest seed. ``test_clean`` (`whole_split_clean`): clean
    accuracy on the whole test split; where a method has it, its clean floor is checked there.
    """
    whole = test_clean if test_clean is not None and not test_clean.empty else None
    whole_summary = (
        proportion_summary(whole, ["dataset", "method", "attack", "eps"]) if whole is not None else None
    )
    rows = []
    for dataset, dataset_floors in floors.items():
        for floor in dataset_floors:
            method = floor["method"]
            for measure, eps, value in _measures(floor):
                attack = CLEAN if measure == "clean" else WORST
                hit = _at(summary, dataset, method, attack, eps)
                seeds = _at(per_seed, dataset, method, attack, eps) if not per_seed.empty else per_seed
                points = ON_EVAL_POINTS
                on_split = _at(whole_summary, dataset, method, CLEAN, None) if whole is not None else None
                if attack == CLEAN and on_split is not None and not on_split.empty:
                    hit, seeds, points = on_split, _at(whole, dataset, method, CLEAN, None), ON_TEST_SPLIT
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
                        "points": points,
                        "status": "pass" if float(h["mean"]) >= value else "fail",
                    }
                )
    return pd.DataFrame(rows, columns=FLOOR_COLUMNS)


def _at(df: pd.DataFrame, dataset: str, method: str, attack: str, eps: float | None) -> pd.DataFrame:
    """The rows of one dataset × method × attack (at ε, unless clean)."""
    rows = df[(df["dataset"] == dataset) & (df["method"] == method) & (df["attack"] == attack)]
    return rows if attack == CLEAN else rows[np.isclose(rows["eps"].astype(float), eps)]


def whole_split_clean(training: pd.DataFrame) -> pd.DataFrame:
    """Per main run with a whole-test-split accuracy in its training record: (dataset, method, seed,
    attack `CLEAN`, eps NaN, accuracy, n, n_correct, n_eval, points "test split"), the rows
    `proportion_summary` takes."""
    cols = ["dataset", "method", "seed", "attack", "eps", "accuracy", "n", "n_correct", "n_eval", "points"]
    if training.empty:
        return pd.DataFrame(columns=cols)
    t = training[training["main"].astype(bool)].dropna(subset=["test_accuracy", "n_test"])
    n = t["n_test"].astype(int)
    return pd.DataFrame(
        {
            "dataset": t["dataset"],
            "method": t["method"],
            "seed": t["seed"],
            "attack": CLEAN,
            "eps": np.nan,
            "accuracy": t["test_accuracy"].astype(float),
            "n": n,
            "n_correct": (t["test_accuracy"].astype(float) * n).round().astype(int),
            "n_eval": n,
            "points": ON_TEST_SPLIT,
        },
        columns=cols,
    ).reset_index(drop=True)


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
