"""The β / estimator ablation: one table and figure per swept parameter."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from sagr import sweeps
from sagr.document import (
    Figure,
    Section,
    frame_table,
    split_columns,
)
from sagr.labels import (
    CLEAN,
    SPECIAL_ATTACKS,
    dataset_label,
    method_label,
    method_rank,
    metric_label,
    param_label,
    param_rank,
)
from sagr.presentation import MISSING, fmt_eps, fmt_estimate, fmt_value
from sagr.report.aggregate import Summaries
from sagr.report.blocks import note, numeric_columns, one_dataset
from sagr.results import Results


def ablation_table(summary: pd.DataFrame, param: str, datasets: list[str]) -> pd.DataFrame:
    """One sweep: rows = dataset × method × value; columns = clean, worst case (same suite), Gini;
    with n. The method column only where several methods sweep the parameter (λ)."""
    d = summary[summary["param"] == param]
    several = d["method"].nunique() > 1
    rows = []
    for (dataset, method, value), g in d.groupby(["dataset", "method", "value"], sort=False):
        row = {
            "Dataset": dataset_label(dataset),
            **({"Method": method_label(method)} if several else {}),
            param_label(param): fmt_value(value),
            "_k": (datasets.index(dataset), method_rank(method), value if not isinstance(value, str) else 0),
        }
        for r in g.itertuples():
            if r.metric == "gini":
                col = f"{metric_label('gini')} · n={int(r.n)}"
                row[col] = fmt_estimate(r.mean, r.sd, r.seeds, r.ci_low, r.ci_high, 1.0, 3)
            else:
                eps = "" if r.metric == CLEAN else f" ε={fmt_eps(r.eps)}"
                col = f"{SPECIAL_ATTACKS[r.metric]}{eps} (%) · n={int(r.n)}"
                row[col] = fmt_estimate(r.mean, r.sd, r.seeds, r.ci_low, r.ci_high)
            row["Seeds"] = int(r.seeds)
        rows.append(row)
    df = pd.DataFrame(rows)
    return df.sort_values("_k").drop(columns="_k").fillna(MISSING).reset_index(drop=True)


def ablation_section(res: Results, summ: Summaries, figs: Mapping) -> Section | None:
    points = summ.ablation_points
    if points.empty:
        return None
    numeric, categorical = sweeps.sweep_params(points)
    worst = points[points["metric"] == "worst_case"]
    eps = {dataset_label(d): fmt_eps(e) for d, e in worst.groupby("dataset", sort=False)["eps"].max().items()}
    suites = {
        f"{dataset_label(d)}, {param_label(p)}": s.replace(",", ", ")
        for (d, p), s in worst.groupby(["dataset", "param"], sort=False)["suite"].first().items()
    }
    sec = Section("ablation", "Ablation").add(
        note(
            "SAGR with one hyper-parameter varied around the default. Every point of a sweep, the default one "
            "included, is scored with the same attacks on the same points: the worst case at the largest ε every "
            "point was attacked at (",
            ", ".join(f"{d}: {e}" for d, e in eps.items()),
            ") over the attacks all points ran (",
            "; ".join(f"{k}: {s}" for k, s in suites.items()),
            "). Cells and error bars as in the headline table.",
        )
    )
    for param in sorted(numeric, key=param_rank) + sorted(categorical, key=param_rank):
        label = param_label(param)
        sub = Section(f"ablation-{param}", f"Against {label}")
        if figs["ablation"].get(param):
            sub.add(
                Figure(
                    figs["ablation"][param],
                    f"Clean accuracy, worst case and Gini against {label}.",
                    f"ablation over {label}",
                )
            )
        df = one_dataset(ablation_table(summ.ablation, param, res.datasets()), res)
        keep = 2 if "Dataset" in df else 1
        t = frame_table(df, f"ablation-{param}", f"Sweep over {label}", right=numeric_columns(df, keep))
        sub.add(*split_columns(t, keep=keep))
        sec.children.append(sub)
    return sec
