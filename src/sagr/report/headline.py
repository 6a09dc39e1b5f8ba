"""The opening: the lede, the headline table (worst case per method and ε) and the per-attack appendix table."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from sagr.document import (
    Bullets,
    Section,
    Span,
    frame_table,
    spans,
    split_columns,
)
from sagr.labels import (
    CLEAN,
    WORST,
    Suite,
    attack_labels,
    attack_rank,
    dataset_label,
    method_label,
    sorted_methods,
)
from sagr.presentation import FLAG, MISSING, PGD_ONLY, column_cells, fmt_eps, fmt_estimate
from sagr.report.aggregate import Summaries
from sagr.report.blocks import flat, note, numeric_columns, style_flag
from sagr.results import Results
from sagr.robustness.budgets import linf_budgets
from sagr.stats import LEVEL


def lede(res: Results) -> list[Span]:
    """One sentence: what this run trained, how it attacked the models, on how many points."""
    runs = res.runs
    methods = [method_label(m) for m in sorted_methods(runs["method"].unique())]
    datasets = [dataset_label(d) for d in res.datasets()]
    seeds = sorted(int(s) for s in runs.loc[runs["main"].astype(bool), "seed"].unique())
    rec = res.records
    rec = rec[rec["attack"] != CLEAN] if not rec.empty else rec
    attacks = (
        list(
            dict.fromkeys(
                attack_labels(res.suite()).get(a, a)
                for a in sorted(rec["attack"].unique(), key=attack_rank(res.suite()))
            )
        )
        if not rec.empty
        else []
    )
    n = sorted({n for d in res.datasets() for n in res.eval_sizes(d)})
    extra = len(runs) - int(runs["main"].astype(bool).sum())

    def budgets(dataset: str) -> str:
        r = rec[rec["dataset"] == dataset] if not rec.empty else rec
        linf = sorted(linf_budgets(r)["eps"].unique()) if not r.empty else []
        l2 = sorted(r.loc[r["norm"] == "l2", "eps"].unique()) if not r.empty else []
        text = f"L∞ ε ∈ {{{', '.join(fmt_eps(e) for e in linf)}}}"
        return text + (f" (and L2 ε ∈ {{{', '.join(fmt_eps(e) for e in l2)}}})" if l2 else "")

    if len(res.datasets()) == 1:
        budget = budgets(res.datasets()[0])
    else:
        budget = "; ".join(f"{budgets(d)} on {dataset_label(d)}" for d in res.datasets())
    # short enough for two lines: the methods are the headline table's rows, the attacks are listed
    # in the evaluation set-up
    return spans(
        f"This run trained {len(runs)} models ({len(methods)} method{'s' if len(methods) != 1 else ''} × "
        f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''} on {', '.join(datasets)}"
        + (f", plus {extra} ablation point{'s' if extra != 1 else ''}" if extra else "")
        + f") and attacked each with {len(attacks)} attack{'s' if len(attacks) != 1 else ''} at {budget} "
        f"on n = {', '.join(map(str, n))} fixed test points."
    )


def masking_failures(res: Results, dataset: str) -> dict[str, list[str]]:
    """Failed gradient-masking checks of the main runs per method, as 'seed s: title' lines."""
    m = res.masking
    if m.empty:
        return {}
    m = m[(m["dataset"] == dataset) & (m["status"] == "fail") & m["main"].astype(bool)]
    out: dict[str, list[str]] = {}
    for row in m.itertuples():
        out.setdefault(row.method, []).append(
            f"seed {row.seed}: {row.title}" + (f" ({row.detail})" if row.detail else "")
        )
    return out


def main_table(
    summary: pd.DataFrame, dataset: str, suite: Suite, flagged: Iterable[str] = ()
) -> pd.DataFrame:
    """Rows = methods; columns = (attack, 'ε=… · n=…'); cells 'mean ± sd [low, high]' in %.

    ``suite`` (attack name -> kind, role) gives the attacks' labels and order (`sagr.labels`).

    Columns whose numbers were measured on fewer points than the evaluation set say so
    ("subset" for a prefix subset, "cascade" for points left robust by cheaper attacks), and a
    worst case without an APGD-strength attack says "no APGD".
    """
    s = summary[summary["dataset"] == dataset]
    labels, rank = attack_labels(suite), attack_rank(suite)
    s = s.assign(_rank=s["attack"].map(rank)).sort_values(["_rank", "norm", "eps"])
    flagged = set(flagged)
    columns, cells = [], {}
    for (attack, norm, eps), rows in s.groupby(["attack", "norm", "eps"], sort=False):
        n_text, col_cells = column_cells(
            rows, lambda r: fmt_estimate(r.mean, r.sd, r.seeds, r.ci_low, r.ci_high)
        )
        points = set(",".join(rows["points"]).split(","))
        mark = " · cascade" if "cascade" in points else " · subset" if "subset" in points else ""
        if attack == WORST and (rows["apgd"] == False).any():  # noqa: E712 (NaN = not stated)
            mark += f" · {PGD_ONLY}"
        # two lines (the budget, then n and marks) keep the column as narrow as its cells
        sub = n_text + mark if attack == CLEAN else f"ε={fmt_eps(eps)}\n{n_text}{mark}"
        if norm == "l2":
            sub = f"L2 {sub}"
        col = (labels.get(attack, attack), sub)
        columns.append(col)
        cells.update({(m, col): v for m, v in col_cells.items()})
    methods = sorted_methods(s["method"])
    index = [method_label(m) + (f" {FLAG}" if m in flagged else "") for m in methods]
    data = [[cells.get((m, c), MISSING) for c in columns] for m in methods]
    return pd.DataFrame(
        data,
        index=pd.Index(index, name="Method"),
        columns=pd.MultiIndex.from_tuples(columns, names=["Attack", "ε"]),
    )


def headline_table(
    summary: pd.DataFrame, dataset: str, suite: Suite, flagged: Iterable[str] = ()
) -> pd.DataFrame:
    """The front page's table: rows = methods; clean accuracy and the L∞ worst case over every
    attack at each ε (`main_table`'s cells and column notes, the other attacks left out)."""
    s = summary[(summary["attack"] == CLEAN) | ((summary["attack"] == WORST) & (summary["norm"] == "linf"))]
    return main_table(s, dataset, suite, flagged)


def headline_section(res: Results, summ: Summaries) -> Section:
    sec = Section("main", "Headline results")
    summary = summ.robustness
    for dataset in res.datasets():
        if summary[summary["dataset"] == dataset].empty:
            continue
        failures = masking_failures(res, dataset)
        df = flat(headline_table(summary, dataset, res.suite(), flagged=failures))
        title = (
            f"{dataset_label(dataset)}: accuracy (%) of each method, clean and under the worst case over "
            "every L∞ attack at each ε"
        )
        t = frame_table(df, f"headline-{dataset}", title, style=style_flag, right=numeric_columns(df))
        sec.add(*split_columns(t))
        if failures:
            sec.add(
                Bullets(
                    [
                        spans(
                            Span(f"{FLAG} {method_label(m)}", "warn"),
                            " failed gradient-masking checks: ",
                            "; ".join(lines) + ".",
                        )
                        for m, lines in failures.items()
                    ],
                    note=True,
                )
            )
    seeds = {dataset_label(d): len(res.seeds_of(d)) for d in res.datasets()}
    return sec.add(
        note(
            "Cells: mean ± sd over seeds (",
            "; ".join(f"{d}: {s}" for d, s in seeds.items()),
            f") [{100 * LEVEL:g} % interval on the n points of the column head]. Worst case: a point counts as "
            "robust only if it survives every L∞ attack run at that ε; “no APGD”: none of them was "
            "APGD-strength, so it may overstate robustness. More in “How to read the numbers”; every attack "
            "on its own in the appendix (“Accuracy under each attack”).",
        )
    )
