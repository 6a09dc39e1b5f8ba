"""Gradient-masking checks: the summary per method, the failures, and the appendix of every check."""

from __future__ import annotations

import pandas as pd

from sagr.document import (
    Paragraph,
    Section,
    Span,
    frame_table,
    split_columns,
)
from sagr.labels import (
    check_rank,
    dataset_label,
    method_label,
    method_rank,
    sorted_methods,
)
from sagr.presentation import MISSING, fmt_p, is_nan
from sagr.report.blocks import note, one_dataset, para, style_counts, style_status
from sagr.report.reference import reference_section
from sagr.results import Results


def masking_summary(res: Results, dataset: str) -> pd.DataFrame:
    """Rows = masking checks, columns = methods: how many of the method's models (ablation points
    included) passed, failed, or could not apply the check."""
    m = res.masking
    m = m[m["dataset"] == dataset]
    checks = sorted(m["check"].unique(), key=check_rank)
    methods = sorted_methods(m["method"])
    titles = m.drop_duplicates("check").set_index("check")["title"]
    rows = []
    for check in checks:
        row = {"Check": titles[check]}
        for method in methods:
            counts = m[(m["check"] == check) & (m["method"] == method)]["status"].value_counts()
            parts = [
                f"{counts[k]} {word}"
                for k, word in (("fail", "failed"), ("pass", "passed"), ("n.a.", "n.a."))
                if counts.get(k)
            ]
            row[method_label(method)] = "\n".join(parts) or MISSING
        rows.append(row)
    return pd.DataFrame(rows)


def masking_failed_table(res: Results) -> pd.DataFrame:
    """Every failed masking check in full: model, check, test statistics and the evidence."""
    return _masking_rows(res, res.masking[res.masking["status"] == "fail"])


def masking_table(res: Results, dataset: str) -> pd.DataFrame:
    """Every model's gradient-masking checks: result, paired-test p-value and α, n, details."""
    return _masking_rows(res, res.masking[res.masking["dataset"] == dataset])


def _masking_rows(res: Results, m: pd.DataFrame) -> pd.DataFrame:
    m = m.assign(
        _d=m["dataset"].map(res.datasets().index),
        _m=m["method"].map(method_rank),
        _c=m["check"].map(check_rank),
    )
    m = m.sort_values(["_d", "_m", "run", "_c"])
    return pd.DataFrame(
        {
            "Dataset": m["dataset"].map(dataset_label),
            "Method": m["method"].map(method_label),
            "Run": m["run"],
            "Check": m["title"],
            "Result": m["status"],
            "p": m["p_value"].map(fmt_p),
            "α": m["alpha"].map(fmt_p),
            "n": m["n_points"].map(lambda v: MISSING if is_nan(v) else str(int(v))),
            "Detail": m["detail"].fillna(""),
        }
    ).reset_index(drop=True)


def masking_section(res: Results) -> Section:
    m = res.masking
    sec = Section("masking", "Gradient-masking checks")
    if m.empty:
        sec.add(Paragraph([Span("No gradient-masking checks were recorded for any model.", "fail")]))
    else:
        n_models = int(m[["dataset", "run"]].drop_duplicates().shape[0])
        n_fail, n_na = int((m["status"] == "fail").sum()), int((m["status"] == "n.a.").sum())
        alphas = sorted({float(a) for a in m["alpha"].dropna()})
        sec.add(
            para(
                f"{n_models} models × their checks = {len(m)} results: ",
                Span(f"{n_fail} failed", "fail") if n_fail else Span("none failed", "b"),
                f", {n_na} not applicable. The checks: accuracy never rises with ε; unbounded PGD (ε = 1) "
                "reaches 0 %; black-box Square is never clearly stronger than white-box attacks; more PGD "
                "steps/restarts never raise accuracy."
                + (
                    " Paired tests (exact McNemar on the points where exactly one of two attacks succeeds) fail "
                    f"at α = {', '.join(f'{a:g}' for a in alphas)}."
                    if alphas
                    else ""
                )
                + " Failed checks are listed in full below; every result with its evidence is in the appendix "
                "(“Every gradient-masking check”).",
            )
        )
        for dataset in [d for d in res.datasets() if d in set(m["dataset"])]:
            df = masking_summary(res, dataset)
            title = f"{dataset_label(dataset)}: models per method that passed, failed or could not apply each check"
            t = frame_table(df, f"masking-summary-{dataset}", title, style=style_counts, wrap={"Check": 30})
            sec.add(*split_columns(t))
        failed = one_dataset(masking_failed_table(res), res)
        if failed.empty:
            sec.add(para(Span("No check failed.", "b")))
        else:
            sec.add(
                frame_table(
                    failed.drop(columns="Result"),
                    "masking-failed",
                    "Every failed check in full",
                    wrap={"Run": 16, "Check": 18, "Detail": 34},
                    right=["p", "α", "n"],
                    long=True,
                )
            )
    sec.children.append(reference_section(res))
    return sec


def masking_appendix(res: Results) -> Section | None:
    m = res.masking
    if m.empty:
        return None
    sec = Section("masking-all", "Every gradient-masking check", fold=True).add(
        note(
            "Every model's checks with their evidence: the paired test's p-value and level, the points it used, "
            "and what was compared."
        )
    )
    for dataset in [d for d in res.datasets() if d in set(m["dataset"])]:
        df = masking_table(res, dataset).drop(columns="Dataset")
        sec.add(
            frame_table(
                df,
                f"masking-{dataset}",
                f"{dataset_label(dataset)}: every masking check of every model",
                style=style_status,
                wrap={"Run": 16, "Check": 18, "Detail": 28},
                right=["p", "α", "n"],
                long=True,
            )
        )
    return sec
