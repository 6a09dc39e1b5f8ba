"""Robust accuracy against ε (the figure) and the paired per-point differences between methods."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from sagr.document import (
    Figure,
    Section,
    frame_table,
    split_columns,
)
from sagr.labels import (
    CLEAN,
    WORST,
    dataset_label,
    method_label,
    metric_label,
)
from sagr.presentation import MISSING, fmt_difference, fmt_eps, scale_of
from sagr.report.aggregate import Summaries
from sagr.report.blocks import note, numeric_columns, para
from sagr.results import Results
from sagr.stats import LEVEL


def curves_section(figs: Mapping) -> Section:
    sec = Section("curves", "Robust accuracy against ε")
    if not figs.get("curves"):
        return sec.add(para("No worst-case records."))
    return sec.add(
        Figure(
            figs["curves"],
            "Worst case over attacks against ε, one panel per dataset (its n in the title); ε = 0 is clean "
            f"accuracy. Error bars: {100 * LEVEL:g} % point-sampling interval; shaded band: ± sd over seeds. "
            "A hollow marker was measured on fewer points than the rest of its panel and is not joined to them.",
            "robust accuracy against epsilon",
        )
    )


def metric_column(metric: str, eps: float) -> str:
    if metric == CLEAN:
        return "Clean (pp)"
    if metric == WORST:
        return f"Worst case ε={fmt_eps(eps)} (pp)"
    return metric_label(metric)


def paired_table(diffs: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Rows = pairs 'A − B'; columns = clean, worst case per ε (percentage points), saliency."""
    d = diffs[diffs["dataset"] == dataset]
    rows: dict[str, dict[str, str]] = {}
    for r in d.itertuples():
        scale, digits, _ = scale_of(r.quantity)
        col = metric_column(r.metric, r.eps)
        rows.setdefault(f"{method_label(r.a)} − {method_label(r.b)}", {})[col] = (
            f"{fmt_difference(r.estimate, r.low, r.high, scale, digits)} "
            f"(n={r.n}, {r.seeds} seed{'s' if r.seeds != 1 else ''})"
        )
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("Pair").fillna(MISSING)


def paired_section(res: Results, summ: Summaries) -> Section:
    sec = Section("paired", "Paired comparisons")
    sec.add(
        note(
            "Difference A − B in worst-case accuracy at each ε (percentage points) and in each saliency "
            "metric, paired over the seeds both methods have and the points both were evaluated on, with a "
            f"{100 * LEVEL:g} % interval. The estimate is the mean over seeds of the per-seed difference; its "
            "standard error combines point sampling (the sd over points of the per-point difference averaged "
            "over seeds, / √n) and seed spread (the sd of the per-seed differences / √seeds), with a t "
            "quantile at Welch–Satterthwaite degrees of freedom. Saliency metrics are stored as per-model "
            "means and sds over the same images, so their point part treats the two models' images as "
            "independent (conservative)."
        )
    )
    shown = False
    for dataset in res.datasets():
        if summ.paired.empty or dataset not in set(summ.paired["dataset"]):
            continue
        df = paired_table(summ.paired, dataset).reset_index()
        title = f"{dataset_label(dataset)}: paired differences A − B"
        sec.add(*split_columns(frame_table(df, f"paired-{dataset}", title, right=numeric_columns(df))))
        shown = True
    if not shown:
        sec.add(para("No pair of compared methods shares seeds (or no per-point results were given)."))
    return sec
