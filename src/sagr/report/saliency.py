"""Saliency-map metrics per method, with the saliency figure."""

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
    SALIENCY_METRICS,
    dataset_label,
    method_label,
    method_rank,
    metric_label,
)
from sagr.presentation import fmt_estimate, fmt_n
from sagr.report.aggregate import Summaries
from sagr.report.blocks import note, numeric_columns, one_dataset
from sagr.results import Results
from sagr.stats import LEVEL


def saliency_table(sal: pd.DataFrame, datasets: list[str]) -> pd.DataFrame:
    """Rows = dataset × method; columns = metrics 'mean ± sd [low, high]', and the image count n."""
    if sal.empty:
        return pd.DataFrame()
    rows = []
    for (dataset, method), g in sal.groupby(["dataset", "method"], sort=False):
        row = {
            "Dataset": dataset_label(dataset),
            "Method": method_label(method),
            "_k": (datasets.index(dataset), method_rank(method)),
            "n (images)": fmt_n(g["n"]),
        }
        for r in g.itertuples():
            row[metric_label(r.metric)] = fmt_estimate(
                r.mean, r.sd, r.seeds, r.ci_low, r.ci_high, scale=1.0, digits=3
            )
        rows.append(row)
    df = pd.DataFrame(rows).sort_values("_k").drop(columns="_k")
    order = (
        ["Dataset", "Method"]
        + [metric_label(m) for m in SALIENCY_METRICS if metric_label(m) in df]
        + ["n (images)"]
    )
    return df[order].fillna("n.a.").reset_index(drop=True)


def saliency_section(res: Results, summ: Summaries, figs: Mapping) -> Section:
    sec = Section("saliency", "Saliency")
    sec.add(
        note(
            "Per model, the mean of each metric over its n test images; then mean ± sd over seeds (main runs), "
            f"and in brackets the {100 * LEVEL:g} % point-sampling interval (± 1.96 · image sd / √n). Gini and "
            "alignment: higher is sharper / more image-like; entropy: lower is sharper; foreground mass only "
            "on black-background datasets."
        )
    )
    df = one_dataset(saliency_table(summ.saliency, res.datasets()), res)
    if not df.empty:
        keep = 2 if "Dataset" in df else 1
        t = frame_table(df, "saliency", "Saliency-map sharpness per method", right=numeric_columns(df, keep))
        sec.add(*split_columns(t, keep=keep))
    for dataset, stem in figs["saliency"].items():
        sec.add(
            Figure(
                stem,
                f"{dataset_label(dataset)}: the same test images (top row) and their vanilla-gradient maps "
                "|∇ₓ z_y| under every method (seed 0), each map scaled to its 99th percentile.",
                f"saliency maps {dataset_label(dataset)}",
                width=0.8,
            )
        )
    return sec
