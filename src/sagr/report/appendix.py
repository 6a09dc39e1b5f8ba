"""Appendix sections: failed runs, departures from the spec, the attack setup, and provenance."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pandas as pd

from sagr.document import (
    Bullets,
    Section,
    Span,
    frame_table,
    spans,
)
from sagr.labels import (
    CLEAN,
    NORM_LABELS,
    attack_labels,
    attack_rank,
    dataset_label,
    method_label,
)
from sagr.presentation import MISSING, fmt_eps
from sagr.report.blocks import note, one_dataset, para
from sagr.results import Results
from sagr.robustness.describe import describable, describe_suite


def failed_runs_table(res: Results) -> pd.DataFrame:
    """Runs whose training diverged: they get no robustness numbers."""
    f = res.failed_runs()
    return pd.DataFrame(
        {
            "Dataset": f["dataset"].map(dataset_label),
            "Method": f["method"].map(method_label),
            "Seed": f["seed"],
            "Run": f["run"],
            "Reason": f["diverged_reason"].fillna(""),
        }
    ).reset_index(drop=True)


def failed_section(res: Results) -> Section:
    sec = Section("failed", "Failed runs")
    failed = failed_runs_table(res)
    if failed.empty:
        return sec.add(para("No run diverged."))
    return sec.add(
        para(
            Span(f"{len(failed)} run(s) diverged in training", "fail"),
            "; they are listed here with the reason and get no robustness or saliency numbers anywhere in this report.",
        ),
        frame_table(
            one_dataset(failed, res),
            "failed",
            "Runs that diverged in training",
            wrap={"Run": 24, "Reason": 36},
        ),
    )


def departures_section(departures: Sequence[str]) -> Section:
    sec = Section("departures", "Departures from the spec")
    if not departures:
        return sec.add(para("None recorded."))
    return sec.add(Bullets([spans(d) for d in departures]))


def attack_setup_table(res: Results) -> pd.DataFrame:
    """Every attack with all its parameters, its budgets and points, and one example repr."""
    rob = res.records
    rob = rob[rob["attack"] != CLEAN]
    suite = res.suite()
    labels = attack_labels(suite)
    rob = rob.assign(_d=rob["dataset"].map(res.datasets().index), _a=rob["attack"].map(attack_rank(suite)))
    rows = []
    for (_, dataset, _, attack, norm), g in rob.groupby(["_d", "dataset", "_a", "attack", "norm"], sort=True):
        # parameters other than ε are shared over the budgets; group by them to stay honest
        params = g["params"].map(
            lambda s: json.dumps({k: v for k, v in json.loads(s).items() if k != "eps"}, sort_keys=True)
        )
        g = g.assign(_p=params).sort_values("eps")
        for p, h in g.groupby("_p", sort=False):
            rows.append(
                {
                    "Dataset": dataset_label(dataset),
                    "Attack": labels[attack],
                    "Norm": NORM_LABELS.get(norm, norm),
                    "ε": ", ".join(fmt_eps(e) for e in sorted(h["eps"].unique())),
                    "n": ", ".join(str(int(v)) for v in sorted(h["n"].unique())),
                    "Points": ", ".join(sorted(set(h["points"]))),
                    "Parameters": ", ".join(f"{k}={v}" for k, v in json.loads(p).items()) or MISSING,
                    "repr (one model)": h["repr"].iloc[0],
                }
            )
    return pd.DataFrame(rows)


def setup_appendix(res: Results) -> Section:
    # the suite in words, from the parameters the records were evaluated with (a re-render after a
    # config change must not describe attacks that never ran); no result stores prose
    specs = res.attack_specs()
    stated = {a: s for a, s in specs.items() if s is not None and describable(s)}
    texts = [describe_suite(stated)] if stated else []
    mixed = [a for a, s in specs.items() if s is None]
    if mixed:
        texts.append(
            f"These results were evaluated under more than one setting of {', '.join(mixed)}: the table below "
            "lists each."
        )
    bare = [a for a, s in specs.items() if s is not None and a not in stated]
    if bare:
        texts.append(f"The records of {', '.join(bare)} do not state the attack's parameters.")
    sizes = {dataset_label(d): res.eval_sizes(d) for d in res.datasets()}
    sec = Section("setup", "Evaluation set-up").add(
        para(
            "Evaluation subset: ",
            "; ".join(f"{d} n = {', '.join(map(str, n))}" for d, n in sizes.items()),
            " (a fixed, seeded subset of the test set, the same for every model).",
        ),
        *[note(t) for t in texts],
    )
    setup = attack_setup_table(res)
    for dataset in res.datasets():
        df = setup[setup["Dataset"] == dataset_label(dataset)].drop(columns="Dataset")
        if df.empty:
            continue
        sec.add(
            frame_table(
                df,
                f"setup-{dataset}",
                f"{dataset_label(dataset)}: every attack with its parameters",
                wrap={"ε": 10, "n": 8, "Points": 8, "Parameters": 28, "repr (one model)": 28},
                long=True,
            )
        )
    return sec
