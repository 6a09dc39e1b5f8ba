"""The per-attack appendix: every attack's accuracy per method and ε (the worst case's components)."""

from __future__ import annotations

from sagr.document import (
    Section,
    frame_table,
    split_columns,
)
from sagr.labels import (
    dataset_label,
)
from sagr.report.aggregate import Summaries
from sagr.report.blocks import flat, note, numeric_columns, style_flag
from sagr.report.headline import main_table, masking_failures
from sagr.results import Results


def attacks_appendix(res: Results, summ: Summaries) -> Section:
    sec = Section("attacks", "Accuracy under each attack").add(
        note(
            "Every attack of the suite on its own, per dataset: cells as in the headline table; a column head "
            "states the attack, its ε and n (“subset”: the first n points only; “cascade”: the points cheaper "
            "attacks left robust)."
        )
    )
    summary = summ.robustness
    for dataset in res.datasets():
        if summary[summary["dataset"] == dataset].empty:
            continue
        failures = masking_failures(res, dataset)
        df = flat(main_table(summary, dataset, res.suite(), flagged=failures))
        t = frame_table(
            df,
            f"attacks-{dataset}",
            f"{dataset_label(dataset)}: accuracy (%) under each attack",
            style=style_flag,
            right=numeric_columns(df),
        )
        sec.add(*split_columns(t))
    return sec
