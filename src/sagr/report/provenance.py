"""Provenance: the commit, devices, library versions and wall time of every job, and the settings each job ran with as its result file records them."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pandas as pd
import yaml

from sagr.document import (
    Code,
    Section,
    Span,
    frame_table,
)
from sagr.files import plain
from sagr.labels import (
    dataset_label,
)
from sagr.presentation import distinct
from sagr.report.blocks import note, para
from sagr.results import Results, provenance_row


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
