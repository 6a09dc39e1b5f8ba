"""The estimator check: SAGR's gradient estimators against the base estimator's interval."""

from __future__ import annotations

import pandas as pd

from sagr.document import (
    Section,
    Span,
    frame_table,
)
from sagr.labels import (
    dataset_label,
    estimator_label,
    method_label,
    method_rank,
)
from sagr.presentation import FLAG, MISSING, fmt_eps, fmt_estimate, is_nan
from sagr.report.aggregate import Summaries
from sagr.report.blocks import note, one_dataset, para
from sagr.results import Results
from sagr.stats import LEVEL


def estimator_table(check: pd.DataFrame, datasets: list[str]) -> pd.DataFrame:
    """Rows = dataset × method × ε × estimator: worst case [interval], n, seeds, and whether it lies
    inside the base estimator's interval; the config's default estimator is marked."""
    if check.empty:
        return pd.DataFrame()
    c = check.assign(_d=check["dataset"].map(datasets.index), _m=check["method"].map(method_rank))
    c = c.sort_values(["_d", "_m", "eps"], kind="stable")
    return pd.DataFrame(
        {
            "Dataset": c["dataset"].map(dataset_label),
            "Method": c["method"].map(method_label),
            "ε": c["eps"].map(fmt_eps),
            "Estimator": [
                estimator_label(e) + (" (default)" if e == d else "")
                for e, d in zip(c["estimator"], c["default"], strict=True)
            ],
            "Worst case (%)": [
                fmt_estimate(r.mean, r.sd, r.seeds, r.ci_low, r.ci_high) for r in c.itertuples()
            ],
            "n": c["n"].astype(int),
            "Seeds": c["seeds"].astype(int),
            f"Inside the {estimator_label(c['base'].iloc[0])} interval": [
                MISSING if is_nan(w) else ("yes" if w else f"no {FLAG}") for w in c["within"]
            ],
        }
    ).reset_index(drop=True)


def estimator_section(res: Results, summ: Summaries) -> Section | None:
    check = summ.estimators
    if check.empty:
        return None
    sec = Section("cost-estimator", "Choice of the default estimator")
    base = estimator_label(check["base"].iloc[0])
    sec.add(
        note(
            "The rule: the default is the fastest estimator (step tables above) whose worst case at every ε lies "
            f"inside the {100 * LEVEL:g} % Clopper–Pearson interval of the {base} estimator's, from the ablation's "
            "estimator sweep (the seeds all its estimators have; at each ε each run's own worst case where all "
            "of them ran the same attacks, else the worst case over the attacks all of them ran; on the points "
            "all of them evaluated)."
        )
    )
    for (dataset, method), g in check.groupby(["dataset", "method"], sort=False):
        default = g["default"].iloc[0]
        parts: list[str | Span] = [
            Span(f"{dataset_label(dataset)}, {method_label(method)}", "b"),
            ": the config's default estimator is ",
            Span(estimator_label(default) if default else "not stated by its runs", "b"),
            ".",
        ]
        eps_all = ", ".join(fmt_eps(e) for e in sorted(g["eps"].unique()))
        for estimator, h in g[g["estimator"] != g["base"]].groupby("estimator", sort=False):
            outside = [
                fmt_eps(e) for e, w in zip(h["eps"], h["within"], strict=True) if not pd.isna(w) and not w
            ]
            parts.append(f" {estimator_label(estimator)}: ")
            if outside:
                parts += [Span("outside", "fail"), f" the {base} interval at ε = {', '.join(outside)}."]
            else:
                parts.append(f"inside the {base} interval at every ε ({eps_all}).")
        df = one_dataset(estimator_table(g, res.datasets()), res)
        inside = [c for c in df.columns if c.startswith("Inside")]
        t = frame_table(
            df,
            f"estimators-{dataset}-{method}",
            f"Estimators of {method_label(method)}, {dataset_label(dataset)}",
            wrap={c: 12 for c in inside},
            right=["ε", "n", "Seeds"],
        )
        sec.add(para(*parts), t)
    return sec
