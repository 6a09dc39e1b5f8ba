"""The replication report: one document, built from the typed results, laid out as HTML and LaTeX.

`build_report` is the entry point the report job calls with its rule's input files. Its steps: load
(`sagr.results`), aggregate (`report.aggregate`: `sagr.summaries`, `sagr.claims`, statistics in
`sagr.stats`), write the CSV summaries and the figures, compose (one module per section, each a
function from the results and their summaries to the `sagr.document` model; `build_document`
lists them in reading order; `report.sources` then links every table and figure to its inputs)
and render (`report.render`: the templates, layout only)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from sagr.document import (
    Document,
    Span,
    spans,
)
from sagr.presentation import distinct
from sagr.report.ablation import ablation_section
from sagr.report.aggregate import Summaries, load_benchmark, load_maps, summarize, write_figures
from sagr.report.appendix import departures_section, failed_section, setup_appendix
from sagr.report.attacks import attacks_appendix
from sagr.report.claims import claims_detail_section, verdicts_section
from sagr.report.cost import cost_section
from sagr.report.floors import floors_section
from sagr.report.headline import headline_section, lede
from sagr.report.howto import howto_section
from sagr.report.masking import masking_appendix, masking_section
from sagr.report.matrix import matrix_section, readings_section
from sagr.report.provenance import provenance_appendix
from sagr.report.render import render_report
from sagr.report.robustness import curves_section, paired_section
from sagr.report.saliency import saliency_section
from sagr.report.sources import file_hashes, sources_section
from sagr.report.tradeoff import tradeoff_section
from sagr.report.training import training_appendix, training_curves_section
from sagr.results import Results, load, write_tables

PAPER = (
    "Li, Hu, Lin, Wu & Shen, “Revisiting Gradient Regularization: Inject Robust "
    "Saliency-Aware Weight Bias for Adversarial Defense”, IEEE Transactions on Information "
    "Forensics and Security 18, 5936–5949 (2023), doi:10.1109/TIFS.2023.3289000"
)


TITLE = "Replication report: Saliency-Aware Gradient Regularization (SAGR)"


def build_document(
    res: Results,
    summ: Summaries,
    figs: Mapping,
    *,
    settings: Mapping,
    benchmark: dict | None = None,
    departures: Sequence[str] = (),
    date: str | None = None,
) -> Document:
    """The report's content, once: both renderings lay out this document."""
    jobs = res.jobs
    # abbreviated as git does (the full hashes are in the provenance appendix): one line of header
    commits = ", ".join(str(c)[:12] for c in distinct(jobs, "git_commit")) or "unknown"
    dirty = bool(jobs["git_dirty"].fillna(False).astype(bool).any()) if not jobs.empty else False
    meta = spans(
        f"Rendered {date or dt.date.today().isoformat()} · commit ",
        Span(commits, "code"),
        Span(" (uncommitted changes)", "warn") if dirty else None,
        " · what each method, attack, metric and check computes: ",
        Span("docs/method.md", href="../docs/method.md"),
    )
    body = [
        howto_section(res),
        curves_section(figs),
        claims_detail_section(summ),
        readings_section(summ.readings),
        paired_section(res, summ),
        masking_section(res),
        saliency_section(res, summ, figs),
        ablation_section(res, summ, figs),
        training_curves_section(summ, figs),
        tradeoff_section(summ, figs, settings.get("lambda_rule")),
        cost_section(res, summ, benchmark),
        failed_section(res),
        departures_section(departures),
    ]
    appendix = [
        attacks_appendix(res, summ),
        masking_appendix(res),
        setup_appendix(res),
        training_appendix(res),
        provenance_appendix(res, settings, benchmark),
    ]
    return Document(
        title=TITLE,
        citation=PAPER,
        meta=meta,
        lede=lede(res),
        front=[
            s
            for s in (
                verdicts_section(res, summ),
                headline_section(res, summ),
                matrix_section(summ.claims, summ.readings, res.datasets(), summ.smallest_effect),
                floors_section(res, summ, settings.get("floors") or {}),
            )
            if s is not None
        ],
        sections=[s for s in body if s is not None],
        appendix=[s for s in appendix if s is not None],
    ).number()


def build_report(
    manifest: Sequence[Mapping],
    inputs: Mapping[str, Sequence[str | Path]],
    settings: Mapping,
    out_html: Path,
    out_tex: Path,
    summary_dir: Path | None = None,
    fig_dir: Path | None = None,
    departures: Sequence[str] = (),
    benchmark: Path | None = None,
    date: str | None = None,
) -> None:
    """Load the rule's input files, summarize, write CSVs and figures, render HTML and LaTeX.

    ``inputs`` maps train / robustness / saliency / correct / maps to the rule's file lists;
    ``fig_dir`` is where the figures go (the rule's output; default: ``figures/`` beside the HTML).
    ``benchmark`` is the cost.json to show, or None: a stale file from an earlier run with the
    benchmark enabled is never picked up on its own.
    """
    res = load(manifest, inputs)
    summ = summarize(
        res,
        settings.get("lambda_rule"),
        settings.get("smallest_effect"),
    )
    bench = load_benchmark(benchmark) if benchmark else None
    hashes = file_hashes({**inputs, "benchmark": [benchmark] if bench else []})
    if summary_dir is not None:
        extra = {**summ.tables(), "sources": hashes}
        if bench:
            extra.update(cost=pd.DataFrame(bench["rows"]), cost_noise=pd.DataFrame(bench.get("noise", [])))
        write_tables(res, Path(summary_dir), extra)
    fig_dir = Path(fig_dir) if fig_dir is not None else Path(out_html).parent / "figures"
    figs = write_figures(res, summ, load_maps(res), fig_dir)
    doc = build_document(
        res, summ, figs, settings=settings, benchmark=bench, departures=departures, date=date
    )
    commits = ", ".join(str(c)[:12] for c in distinct(res.jobs, "git_commit")) or "unknown"
    doc.appendix.append(sources_section(doc, hashes, commits))
    render_report(doc.number(), out_html, out_tex, fig_dir)
