"""Did a run's training converge? Read from the per-epoch validation curve of its train.json.

The rule (`convergence`): a run is *still improving* at its last epoch when one of its validation
accuracies (clean or PGD, on the held-out split) rose from the previous validated epoch to the last
by more than the last value's point-sampling standard error, √(p(1−p)/n) on the n validation images:
a rise the validation set's own noise does not explain. A run validated at fewer than two epochs is
not judged (its training loss curve is still shown).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sagr.stats import standard_error

METRICS = {"val_clean": "clean", "val_pgd": "PGD"}  # history column -> what it measures
COLUMNS = [
    "dataset",
    "run",
    "method",
    "seed",
    "main",
    "epochs",
    "last_epoch",
    "previous_epoch",
    "val_n",
    *[f"{m}_{part}" for m in METRICS for part in ("last", "change", "se")],
    "judged",
    "still_improving",
]


def rising(previous: float, last: float, n: float) -> bool:
    """The last value exceeds the previous one by more than the last value's sampling SE on n points."""
    return bool(last - previous > standard_error(last, n))


def convergence(history: pd.DataFrame) -> pd.DataFrame:
    """One row per run of `Results.history` (columns `COLUMNS`): the last two validated epochs, each
    metric's last value, its change and SE, whether the run was judged and is still improving."""
    if history.empty:
        return pd.DataFrame(columns=COLUMNS)
    rows = []
    for (dataset, run), g in history.groupby(["dataset", "run"], sort=False):
        g = g.sort_values("epoch")
        first = g.iloc[0]
        row = dict(
            dataset=dataset,
            run=run,
            method=first["method"],
            seed=first["seed"],
            main=bool(first["main"]),
            epochs=int(g["epoch"].max()),
        )
        val = g.dropna(subset=list(METRICS), how="all")
        judged = len(val) >= 2
        last = val.iloc[-1] if judged else None
        prev = val.iloc[-2] if judged else None
        row.update(
            last_epoch=int(last["epoch"]) if judged else np.nan,
            previous_epoch=int(prev["epoch"]) if judged else np.nan,
            val_n=last["val_n"] if judged else np.nan,
            judged=judged,
        )
        improving = False
        for m in METRICS:
            if judged and not (pd.isna(last[m]) or pd.isna(prev[m])):
                row[f"{m}_last"] = float(last[m])
                row[f"{m}_change"] = float(last[m] - prev[m])
                row[f"{m}_se"] = standard_error(float(last[m]), last["val_n"])
                improving |= rising(float(prev[m]), float(last[m]), last["val_n"])
            else:
                row[f"{m}_last"] = row[f"{m}_change"] = row[f"{m}_se"] = np.nan
        row["still_improving"] = improving if judged else np.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)
