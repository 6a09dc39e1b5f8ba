"""Appendix sections: failed runs, departures from the spec, the attack setup, and provenance."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import pandas as pd
import yaml

from sagr.document import (
    Bullets,
    Code,
    Section,
    Span,
    frame_table,
    spans,
)
from sagr.files import plain
from sagr.labels import (
    CLEAN,
    NORM_LABELS,
    attack_labels,
    attack_rank,
    dataset_label,
    method_label,
)
from sagr.presentation import MISSING, distinct, fmt_eps
from sagr.report.blocks import note, one_dataset, para
from sagr.results import Results, provenance_row
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


def jobs_summary(jobs: pd.DataFrame) -> pd.DataFrame:
    """Wall time per job kind: how many jobs, total, mean and longest."""
    if jobs.empty:
        return jobs
    g = jobs.groupby(["job", "device"], dropna=False, sort=True)["wall_time_s"]
    df = g.agg(["count", "sum", "mean", "max"]).reset_index()
    return pd.DataFrame(
        {
            "Job": df["job"],
            "Device": df["device"],
            "Jobs": df["count"],
            "Total (s)": df["sum"].map(lambda v: f"{v:.1f}"),
            "Mean (s)": df["mean"].map(lambda v: f"{v:.1f}"),
            "Max (s)": df["max"].map(lambda v: f"{v:.1f}"),
        }
    )


def versions_table(jobs: pd.DataFrame) -> pd.DataFrame:
    """Library versions across all jobs; more than one value per package is listed in full."""
    cols = [c for c in jobs.columns if c.startswith("v_")]
    return pd.DataFrame(
        [
            {
                "Package": c[2:],
                "Version(s)": ", ".join(sorted(str(v) for v in jobs[c].dropna().unique())),
            }
            for c in cols
        ]
    )


def provenance_appendix(res: Results, settings: Mapping, benchmark: dict | None) -> Section:
    jobs = res.jobs
    if benchmark and benchmark.get("provenance"):
        row = provenance_row({"dataset": "", "run": "benchmark"}, "cost.json", benchmark["provenance"])
        jobs = pd.concat([jobs, pd.DataFrame([row])], ignore_index=True)
    dirty = bool(jobs["git_dirty"].fillna(False).astype(bool).any()) if not jobs.empty else False
    sec = Section("provenance", "Provenance").add(
        para(
            "Git commit(s): ",
            Span(", ".join(map(str, distinct(jobs, "git_commit"))) or "unknown", "code"),
            Span(" — some jobs ran on a tree with uncommitted changes", "warn") if dirty else None,
            f"; device(s): {', '.join(map(str, distinct(jobs, 'device')))}; "
            f"host(s): {', '.join(map(str, distinct(jobs, 'host')))}. Every number of this report is in the CSV "
            "tables under results/summary/, one row per record, each with its run, seed and job provenance.",
        ),
        frame_table(versions_table(jobs), "versions", "Library versions", wrap={"Version(s)": 60}),
        frame_table(
            jobs_summary(jobs),
            "jobs",
            "Wall time per job kind",
            wrap={"Device": 40},
            right=["Jobs", "Total (s)", "Mean (s)", "Max (s)"],
        ),
    )
    sec.children.append(settings_section(res, settings))
    return sec


def _yaml(obj: object) -> str:
    return yaml.safe_dump(plain(obj, "settings"), sort_keys=False, allow_unicode=True, width=100)


def settings_section(res: Results, settings: Mapping) -> Section:
    """The settings as the result files record them (what each job ran with, not the config of today),
    and the report's own (its rule's params: the λ rule, the equivalence margins, the floors)."""
    blocks: list = [
        para(
            "What each job ran with, as its result file's provenance records it; a config edited since "
            "would not show here until the jobs rerun. Each distinct setting once, with the runs that used it."
        )
    ]
    s = res.job_settings
    for (dataset, source), g in s.groupby(["dataset", "source"], sort=False) if not s.empty else []:
        for text, runs in g.groupby("settings", sort=False)["run"]:
            blocks.append(note(f"{dataset_label(dataset)}, {source}: {len(runs)} run(s) ({', '.join(runs)})"))
            blocks.append(Code(_yaml(json.loads(text))))
    blocks += [note("The report's own settings (the render rule's params)."), Code(_yaml(settings))]
    return Section("config", "Settings", blocks, fold=True)
