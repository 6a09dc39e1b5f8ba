"""The λ trade-off: the curves' figure, the λ rule as the results record it, and the λ it picks."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from sagr.document import (
    Figure,
    Section,
    Span,
    frame_table,
)
from sagr.labels import (
    WORST,
    dataset_label,
    method_label,
    method_rank,
)
from sagr.presentation import MISSING, fmt_eps, is_nan
from sagr.report.aggregate import Summaries
from sagr.report.blocks import note
from sagr.stats import LEVEL


def lam_choice_table(choice: pd.DataFrame) -> pd.DataFrame:
    """Per dataset × swept method: the configured λ, the λ the rule picks, whether they agree, and the
    clean accuracies the rule compared (`sagr.tradeoff.lam_choice`)."""
    c = choice.assign(_m=choice["method"].map(method_rank)).sort_values(["dataset", "_m"], kind="stable")
    return pd.DataFrame(
        {
            "Dataset": c["dataset"].map(dataset_label),
            "Method": c["method"].map(method_label),
            "λ configured": c["configured"].map(lambda v: MISSING if is_nan(v) else f"{v:g}"),
            "λ by the rule": c["chosen"].map(lambda v: "none qualifies" if is_nan(v) else f"{v:g}"),
            "Agrees": c["agrees"].map(lambda v: "yes" if v else "no"),
            "Clean at the rule’s λ (%)": c["clean_chosen"].map(
                lambda v: MISSING if is_nan(v) else f"{100 * v:.2f}"
            ),
            "Baseline clean (%)": [
                f"{method_label(b)} {100 * r:.2f}" for b, r in zip(c["baseline"], c["reference"], strict=True)
            ],
            "Clean measured on": [
                f"{on}, n = {int(n)}" for on, n in zip(c["clean_points"], c["n_clean"], strict=True)
            ],
        }
    ).reset_index(drop=True)


def tradeoff_section(summ: Summaries, figs: Mapping, lambda_rule: Mapping | None) -> Section | None:
    """The λ trade-off figure, the λ rule as the config states it, and the λ it picks per method."""
    if summ.lam.empty:
        return None
    choice = summ.lam_choice
    worst = summ.lam[summ.lam["metric"] == WORST]
    suites = "; ".join(
        f"{dataset_label(d)}, ε={fmt_eps(e)}: {s.replace(',', ', ')}"
        for (d, e), s in worst.groupby(["dataset", "eps"], sort=False)["suite"].first().items()
    )
    parts: list[str | Span | None] = [
        "Each regulariser's λ sweep: clean accuracy against the worst case at each ε, one curve per method, "
        f"each point labelled with its λ; error bars: {100 * LEVEL:g} % point-sampling intervals of both "
        f"coordinates. Every sweep point is scored on the same points with the attacks all of them ran at that ε "
        f"({suites}). "
    ]
    if lambda_rule:
        n_disagree = int((~choice["agrees"].astype(bool)).sum()) if len(choice) else 0
        parts += [
            "The main configuration's λ per method follows one rule: ",
            Span(
                "the largest λ whose clean accuracy (mean over the sweep's seeds, on the whole test split where "
                "every run's training record has it, else on the sweep's clean points) is at "
                f"most {100 * lambda_rule['max_clean_drop']:g} point(s) below "
                f"{method_label(lambda_rule['baseline'])}'s on the same points and seeds",
                "b",
            ),
            "; solid line: the baseline's clean accuracy, dashed: the rule's threshold. ",
            Span(
                f"For {n_disagree} method(s) this run's sweep picks another λ than the configured one.",
                "warn",
            )
            if n_disagree
            else "This run's sweep picks the configured λ of every method.",
        ]
    else:
        parts.append("The config states no λ rule (ablation.lambda_rule).")
    parts.append(" Claims C2m and C3m compare SAGR and JR at the sweep points closest in clean accuracy.")
    sec = Section("tradeoff", "λ trade-off").add(note(*parts))
    if figs.get("tradeoff"):
        sec.add(
            Figure(
                figs["tradeoff"],
                "Clean accuracy against the worst case at each ε over the λ sweep.",
                "clean accuracy against worst case over the lambda sweep",
            )
        )
    if len(choice):
        df = lam_choice_table(choice)
        sec.add(
            frame_table(
                df, "lambda-choice", "The λ the rule picks per method", wrap={"Baseline clean (%)": 16}
            )
        )
    return sec
