"""The quality floors: every main model held against the published figure its floor cites."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from sagr.document import (
    Section,
    Span,
    frame_table,
    split_columns,
)
from sagr.floors import floor_checks, main_accuracies, whole_split_clean
from sagr.labels import (
    ON_TEST_SPLIT,
    dataset_label,
    method_label,
)
from sagr.presentation import fmt_eps
from sagr.report.aggregate import Summaries
from sagr.report.blocks import note, one_dataset, style_status
from sagr.results import Results


def floors_section(res: Results, summ: Summaries, floors: Mapping) -> Section | None:
    """The configured quality floors (datasets.<d>.floors) against this run: is each model at the
    published grade its numbers need?"""
    df = floor_checks(
        floors, summ.robustness, main_accuracies(res.records, res.worst_case), whole_split_clean(res.training)
    )
    if df.empty:
        return None

    def pct(v: Any) -> str:  # two decimals: a floor missed by a hair must not print as met
        return "—" if pd.isna(v) else f"{100 * v:.2f}"

    shown = pd.DataFrame(
        {
            "Dataset": df["dataset"].map(dataset_label),
            "Method": df["method"].map(method_label),
            "Measure": [
                ("clean, whole test split" if on == ON_TEST_SPLIT else "clean")
                if m == "clean"
                else f"worst case, ε={fmt_eps(e)}"
                for m, e, on in zip(df["measure"], df["eps"], df["points"], strict=True)
            ],
            "Floor (%)": df["floor"].map(pct),
            "Mean (%)": df["mean"].map(pct),
            "Interval (%)": [
                "—" if pd.isna(lo) else f"[{100 * lo:.1f}, {100 * hi:.1f}]"
                for lo, hi in zip(df["ci_low"], df["ci_high"], strict=True)
            ],
            "Lowest seed (%)": df["seed_min"].map(pct),
            "n × seeds": [
                "—" if pd.isna(n) else f"{int(n)} × {int(k)}"
                for n, k in zip(df["n"], df["seeds"], strict=True)
            ],
            "Result": df["status"],
            "Published": df["source"],
        }
    )
    t = frame_table(
        one_dataset(shown, res),  # one dataset: its column would push "Published" into a part alone
        "floors",
        "Quality floors: are the models at published grade?",
        style=style_status,
        wrap={"Published": 40},
        right=["Floor (%)", "Mean (%)", "Lowest seed (%)"],
    )
    failed = int((df["status"] == "fail").sum())
    unrun = int((df["status"] == "not run").sum())
    # "every floor is met" only where every floor was checked: a floor with no result is not met
    verdict = (
        Span(
            f"{failed} floor(s) not met: those models' numbers say more about the training budget "
            "than about the method.",
            "warn",
        )
        if failed
        else Span(
            f"{unrun} of {len(df)} floor(s) not checked: their models are not in these results.", "warn"
        )
        if unrun
        else "Every floor is met."
    )
    return Section("floors", "Quality floors").add(
        *split_columns(t),
        note(
            "Each robustness floor is checked on the pipeline's own worst case over every attack of the suite "
            "on every evaluated point, mean over the seeds (interval: 95 % Clopper–Pearson on the n points); a "
            "clean floor on the whole test split where the training record has it, as published clean "
            "accuracies are. ",
            verdict,
        ),
    )
