"""Training: the convergence checks with their curves, and the training appendix."""

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
    dataset_label,
    method_label,
    method_rank,
)
from sagr.presentation import MISSING, fmt_signed, is_nan
from sagr.report.aggregate import Summaries
from sagr.report.blocks import note, one_dataset
from sagr.results import Results


def convergence_table(flags: pd.DataFrame) -> pd.DataFrame:
    """Runs (`sagr.convergence` rows) with each validation accuracy's last value and its change over
    the previous validated epoch, beside that value's sampling SE (percentage points)."""

    f = flags.assign(_m=flags["method"].map(method_rank)).sort_values(["dataset", "_m", "run"], kind="stable")

    def change(metric: str) -> list[str]:
        return [
            MISSING if is_nan(d) else f"{100 * v:.1f} ({fmt_signed(100 * d)} vs SE {100 * se:.1f})"
            for v, d, se in zip(f[f"{metric}_last"], f[f"{metric}_change"], f[f"{metric}_se"], strict=True)
        ]

    return pd.DataFrame(
        {
            "Dataset": f["dataset"].map(dataset_label),
            "Method": f["method"].map(method_label),
            "Run": f["run"],
            "Epochs": [
                f"{int(p)} → {int(e)}" for p, e in zip(f["previous_epoch"], f["last_epoch"], strict=True)
            ],
            "Validation clean (%)": change("val_clean"),
            "Validation PGD (%)": change("val_pgd"),
            "n (validation)": f["val_n"].map(lambda v: MISSING if is_nan(v) else f"{int(v)}"),
        }
    ).reset_index(drop=True)


def training_curves_section(summ: Summaries, figs: Mapping) -> Section | None:
    """Each dataset's validation curves, the convergence rule, and the runs still improving."""
    c = summ.convergence
    if c.empty:
        return None
    flagged = c[c["still_improving"].eq(True)]
    n_runs, n_judged = len(c), int(c["judged"].sum())
    sec = Section("training-curves", "Training curves").add(
        note(
            "Each main run's validation accuracy on the held-out training images after every epoch (clean solid, "
            "PGD dashed, one line per seed; without a validation split, the mean training loss). A run is ",
            Span("still improving", "b"),
            " when a validation accuracy rose from the previous validated epoch to the last by more than the last "
            "value's point-sampling standard error √(p(1−p)/n) on the n validation images; red crosses mark them. "
            f"{len(flagged)} of {n_judged} judged runs are still improving at their last epoch"
            + (
                f"; {n_runs - n_judged} run(s) had fewer than two validated epochs and are not judged"
                if n_judged < n_runs
                else ""
            )
            + ".",
        )
    )
    for dataset, stem in figs.get("training", {}).items():
        sec.add(
            Figure(
                stem,
                f"{dataset_label(dataset)}: validation accuracy (or training loss) per epoch, per method and seed.",
                f"training curves, {dataset_label(dataset)}",
            )
        )
    df = convergence_table(flagged)
    if not df.empty:
        sec.add(frame_table(df, "convergence", "Runs still improving at their last epoch"))
    return sec


def training_table(res: Results) -> pd.DataFrame:
    """Each run's training wall time, epochs, final loss, test accuracy and status."""
    tr = res.training.merge(res.runs[["dataset", "run", "status"]], on=["dataset", "run"])
    tr = tr.assign(_d=tr["dataset"].map(res.datasets().index), _m=tr["method"].map(method_rank))
    tr = tr.sort_values(["_d", "_m", "run"])
    per_epoch = tr["train_wall_time_s"] / tr["epochs"].where(tr["epochs"] > 0)

    def num(fmt: str) -> callable:
        return lambda v: MISSING if is_nan(v) else fmt.format(v)

    return pd.DataFrame(
        {
            "Dataset": tr["dataset"].map(dataset_label),
            "Method": tr["method"].map(method_label),
            "Run": tr["run"],
            "Status": tr["status"],
            "Epochs": tr["epochs"],
            "Wall time (s)": tr["train_wall_time_s"].map(num("{:.1f}")),
            "s / epoch": per_epoch.map(num("{:.1f}")),
            "Final loss": tr["final_loss"].map(num("{:.4f}")),
            "Test acc. (%)": (100 * tr["test_accuracy"]).map(num("{:.2f}")),
        }
    ).reset_index(drop=True)


def training_appendix(res: Results) -> Section:
    df = one_dataset(training_table(res), res).rename(
        columns={
            "Wall time (s)": "Wall\ntime (s)",
            "s / epoch": "s /\nepoch",
            "Final loss": "Final\nloss",
            "Test acc. (%)": "Test\nacc. (%)",
        }
    )
    keep = [c for c in ("Dataset", "Method", "Run", "Status") if c in df]
    return Section("training", "Training runs", fold=True).add(
        frame_table(
            df,
            "training",
            "Every run's training wall time, epochs, final loss and test accuracy",
            wrap={"Run": 26},
            right=[c for c in df.columns if c not in keep],
            long=True,
        )
    )
