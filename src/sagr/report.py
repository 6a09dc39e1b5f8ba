"""The replication report: HTML and LaTeX rendered by jinja2 from the same pandas tables.

`build_report` is the entry point the Snakemake script calls with paths; it reads the result
files (`tables.collect`), writes the CSV summaries and calls `render_report`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
import yaml
from markupsafe import Markup

from sagr import figures, latex
from sagr.files import read_json, read_npz
from sagr import tables as T

PAPER = ("Li, Hu, Lin, Wu & Shen, “Revisiting Gradient Regularization: Inject Robust "
         "Saliency-Aware Weight Bias for Adversarial Defense”, IEEE Transactions on Information "
         "Forensics and Security 18, 5936–5949 (2023), doi:10.1109/TIFS.2023.3289000")
TEMPLATES = Path(__file__).parent / "templates"
FAIL_CSS = "color: #b00020; font-weight: bold;"
PASS_CSS = "color: #1a7f37;"
NA_CSS = "color: #777777;"

# Escaping lives in sagr.latex (the template layer); re-exported for callers of report.
latex_escape = latex.latex_escape


# ---------------------------------------------------------------- tables in both formats

def _styler(df: pd.DataFrame, style: Callable[[Any], str] | None, subset: Sequence[str] | None,
            uid: str) -> pd.io.formats.style.Styler:
    """A Styler without the index (tables carry their labels as columns) and with cell styles."""
    styler = df.style.hide(axis="index").set_uuid(uid)
    if style is not None:
        styler = styler.map(style, subset=list(subset) if subset is not None else None)
    return styler


def table(df: pd.DataFrame, uid: str, *, style: Callable[[Any], str] | None = None,
          subset: Sequence[str] | None = None, column_format: str | None = None,
          long: bool = False, numeric: bool = True) -> dict[str, str]:
    """One DataFrame rendered as HTML (escaped, classed) and as a booktabs LaTeX tabular."""
    html = (_styler(df, style, subset, uid)
            .format(escape="html", na_rep="–").format_index(escape="html", axis=1)
            .set_table_attributes(f'class="tbl{" num" if numeric else ""}"').to_html())
    column_format = column_format or "l" * df.shape[1]
    tex = (_styler(df, style, subset, uid)
           .format(latex_escape, na_rep="--").format_index(latex_escape, axis=1)
           .to_latex(hrules=True, convert_css=True, column_format=column_format,
                     multicol_align="c", environment="longtable" if long else None))
    if not long:  # wide tables shrink to the text width, narrow ones keep their size
        tex = "\\begin{adjustbox}{max width=\\linewidth}\n" + tex + "\\end{adjustbox}\n"
    return {"html": Markup(html), "tex": latex.Latex(tex)}


def _status_css(value: Any) -> str:
    """Red for a failed masking check, green for a pass, grey for n.a."""
    return {"fail": FAIL_CSS, "pass": PASS_CSS, "n.a.": NA_CSS}.get(value, "")


def _flag_css(value: Any) -> str:
    """Red for a method label carrying the masking warning."""
    return FAIL_CSS if isinstance(value, str) and T.FLAG in value else ""


def _flat(df: pd.DataFrame) -> pd.DataFrame:
    """Index levels as ordinary columns (MultiIndex columns get the label on the top level)."""
    if isinstance(df.columns, pd.MultiIndex):
        names = list(df.index.names)
        out = df.copy()
        out.index = range(len(out))
        for level, name in reversed(list(enumerate(names))):
            out.insert(0, (name,) + ("",) * (df.columns.nlevels - 1),
                       df.index.get_level_values(level))
        out.columns = pd.MultiIndex.from_tuples(out.columns)
        return out
    return df.reset_index()


# ---------------------------------------------------------------- report sections

def _main_sections(tables: dict[str, pd.DataFrame]) -> list[dict]:
    """Per dataset: the method × (attack, ε) table, its masking footnotes and its n."""
    summary = T.robustness_summary(tables)
    out = []
    for dataset in T.datasets(tables):
        if dataset not in summary.index.get_level_values("dataset"):
            continue
        failures = T.masking_failures(tables, dataset)
        main = T.main_table(summary, dataset, flagged=failures)
        df = _flat(main)
        # The PDF shows it transposed (rows = attack x eps, columns = methods): it fits a page.
        df_t = main.T.reset_index()
        ds = summary.xs(dataset, level="dataset")
        subsets = sorted({int(n) for n in ds.loc[ds["subset"], "n"]})
        out.append({
            "dataset": T.dataset_label(dataset), "key": dataset,
            "table": table(df, f"main_{dataset}", style=_flag_css, subset=[df.columns[0]],
                           column_format="l" + "r" * (df.shape[1] - 1)),
            "table_t": table(df_t, f"main_t_{dataset}", column_format="ll" + "r" * (df_t.shape[1] - 2)),
            "n_eval": T.eval_sizes(tables, dataset), "subsets": subsets,
            "seeds": T.seeds_of(tables, dataset),
            "failures": {T.method_label(m): lines for m, lines in failures.items()},
        })
    return out


def _masking_section(tables: dict[str, pd.DataFrame]) -> dict:
    """Every model's masking checks per dataset, with counts of failures."""
    m = tables["masking"]
    per = []
    present = set(m["dataset"]) if not m.empty else set()
    for dataset in [d for d in T.datasets(tables) if d in present]:
        df = T.masking_table(tables, dataset)
        per.append({"dataset": T.dataset_label(dataset), "key": dataset,
                    "n_fail": int((df["Result"] == "fail").sum()),
                    "table": table(df, f"masking_{dataset}", style=_status_css,
                                   subset=["Result"], long=True, numeric=False,
                                   column_format="llp{3.8cm}p{3cm}lp{4.5cm}")})
    return {"datasets": per, "n_models": int(m[["dataset", "run"]].drop_duplicates().shape[0])
            if not m.empty else 0,
            "n_checks": len(m), "n_fail": int((m["status"] == "fail").sum()) if not m.empty else 0,
            "n_na": int((m["status"] == "n.a.").sum()) if not m.empty else 0}


def _ablation_section(tables: dict[str, pd.DataFrame], fig_dir: Path) -> dict | None:
    """Sweep tables for every swept parameter and line plots for the numeric ones."""
    long = T.ablation_long(tables)
    if long.empty:
        return None
    numeric, categorical = T.sweep_params(long)
    metrics = [m for m in T.ABLATION_METRICS if m in long and long[m].notna().any()
               and m != "Clean (%)"]
    items = []
    for param in sorted(numeric, key=T.param_rank) + sorted(categorical, key=T.param_rank):
        df = _flat(T.ablation_table(long, param))
        items.append({
            "param": param, "label": T.PARAM_LABELS.get(param, param),
            "figure": figures.ablation(long, param, metrics, fig_dir) if param in numeric
            else None,
            "table": table(df, f"ablation_{param}", column_format="ll" + "r" * (df.shape[1] - 2)),
        })
    eps = ({T.dataset_label(d): T.fmt_eps(e)
            for d, e in long.groupby("dataset", sort=False)["eps_pgd"].max().items()}
           if "eps_pgd" in long else {})
    return {"items": items, "eps": eps}


def _setup_section(tables: dict[str, pd.DataFrame]) -> dict:
    """Every attack with its parameters, the AutoAttack text and the evaluation subset sizes."""
    ev = tables["evaluation"]
    texts = [t for t in dict.fromkeys(ev["autoattack_description"].fillna("")) if t]
    sizes = {T.dataset_label(d): T.eval_sizes(tables, d) for d in T.datasets(tables)}
    df = T.attack_setup_table(tables)
    return {"table": table(df, "setup", numeric=False,
                           column_format="llllrp{4cm}p{4.5cm}", long=True),
            "autoattack": texts, "sizes": sizes}


def _provenance_section(tables: dict[str, pd.DataFrame], config: Mapping,
                        benchmark: dict | None) -> dict:
    """Versions, devices, commits and per-job wall time (the benchmark's job included)."""
    jobs = tables["jobs"]
    if benchmark and benchmark.get("provenance"):
        row = T.provenance_row({"dataset": "", "run": "benchmark"}, "cost.json",
                                benchmark["provenance"])
        jobs = pd.concat([jobs, pd.DataFrame([row])], ignore_index=True)
    view = {**tables, "jobs": jobs}
    dirty = bool(jobs["git_dirty"].fillna(False).astype(bool).any()) if not jobs.empty else False
    return {
        "versions": table(T.versions_table(view), "versions", numeric=False),
        "jobs": table(T.jobs_summary(view), "jobs", column_format="llrrrr"),
        "devices": T.distinct(view, "jobs", "device"),
        "hosts": T.distinct(view, "jobs", "host"),
        "commits": T.distinct(view, "jobs", "git_commit"), "dirty": dirty,
        "config_yaml": yaml.safe_dump(_plain(config), sort_keys=False, allow_unicode=True),
    }


def _plain(obj: Any) -> Any:
    """Config as plain dicts/lists/scalars (Snakemake hands over its own mapping types)."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (np.generic,)):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _saliency_figures(tables: dict[str, pd.DataFrame], maps: Mapping[tuple[str, str], Mapping],
                      fig_dir: Path) -> list[dict]:
    """One image × method grid per dataset that has maps for its seed-0 main runs."""
    out = []
    for dataset in T.datasets(tables):
        rows = [(label, maps[(dataset, run)]) for label, run in T.saliency_rows(tables, dataset)
                if (dataset, run) in maps]
        if rows:
            out.append({"dataset": T.dataset_label(dataset),
                        "figure": figures.saliency_grid(rows, dataset, fig_dir)})
    return out


# ---------------------------------------------------------------- render

def _environments() -> tuple[jinja2.Environment, jinja2.Environment]:
    """Jinja environments: HTML autoescaped; LaTeX with <% %> / << >> so braces stay literal."""
    loader = jinja2.FileSystemLoader(TEMPLATES)
    html = jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)
    tex = jinja2.Environment(loader=loader, autoescape=False, undefined=jinja2.StrictUndefined,
                             block_start_string="<%", block_end_string="%>",
                             variable_start_string="<<", variable_end_string=">>",
                             comment_start_string="<#", comment_end_string="#>",
                             trim_blocks=True, lstrip_blocks=True, finalize=latex.finalize)
    # Every << value >> is escaped by `finalize`; `tex` escapes inside an expression,
    # `latex` marks ready-made LaTeX (pandas tables), `verbatim` makes text verbatim-safe.
    tex.filters["tex"] = lambda v: latex.Latex(latex.latex_escape(v))
    tex.filters["latex"] = latex.as_latex
    tex.filters["verbatim"] = lambda v: latex.Latex(latex.verbatim_ascii(v))
    return html, tex


def render_report(tables: dict[str, pd.DataFrame], *, config: Mapping,
                  maps: Mapping[tuple[str, str], Mapping], out_html: Path, out_tex: Path,
                  benchmark: dict | None = None, departures: Sequence[str] = (),
                  date: str | None = None) -> None:
    """Write index.html and report.tex (and their figures) from the collected tables.

    `maps` holds maps.npz contents keyed by (dataset, run) for the saliency figure;
    figures go to `out_html.parent / "figures"` as PNG (page) and PDF (LaTeX).
    """
    out_html, out_tex = Path(out_html), Path(out_tex)
    fig_dir = out_html.parent / "figures"
    curves = T.curves(tables)
    cost = T.cost_table(benchmark) if benchmark else None
    training = T.training_table(tables)
    context = {
        "paper": PAPER,
        "date": date or dt.date.today().isoformat(),
        "datasets": [T.dataset_label(d) for d in T.datasets(tables)],
        "methods": [T.method_label(m) for m in T.sorted_methods(tables["training"]["method"])],
        "seeds": [int(s) for s in T.distinct(tables, "training", "seed")],
        "n_runs": len(tables["training"]),
        "main": _main_sections(tables),
        "curves": figures.robust_vs_eps(curves, fig_dir) if not curves.empty else None,
        "masking": _masking_section(tables),
        "saliency": table(_flat(T.saliency_table(tables)), "saliency",
                          column_format="llrrrr"),
        "saliency_figures": _saliency_figures(tables, maps, fig_dir),
        "ablation": _ablation_section(tables, fig_dir),
        "cost": table(cost, "cost", column_format="llrrrrl") if cost is not None else None,
        "training": table(training, "training", long=True,
                          column_format="llp{4.5cm}rrrrr"),
        "setup": _setup_section(tables),
        "departures": list(departures),
        "provenance": _provenance_section(tables, config, benchmark),
    }
    html_env, tex_env = _environments()
    out_html.parent.mkdir(parents=True, exist_ok=True)
    out_html.write_text(html_env.get_template("index.html.j2").render(fig="figures", **context))
    out_tex.parent.mkdir(parents=True, exist_ok=True)
    fig_rel = Path(os.path.relpath(fig_dir, out_tex.parent)).as_posix()
    out_tex.write_text(tex_env.get_template("report.tex.j2").render(fig=fig_rel, **context))


# ---------------------------------------------------------------- entry point

def load_benchmark(path: Path) -> dict | None:
    """cost.json if the benchmark ran, else None (the cost section then shows training only)."""
    path = Path(path)
    return read_json(path) if path.is_file() else None


def load_maps(tables: dict[str, pd.DataFrame], results_dir: Path) -> dict[tuple[str, str], Any]:
    """maps.npz of the runs the saliency figure shows (each method's lowest-seed main run)."""
    maps = {}
    for dataset in T.datasets(tables):
        for _, run in T.saliency_rows(tables, dataset):
            path = Path(results_dir) / dataset / run / "maps.npz"
            if not path.is_file():
                raise FileNotFoundError(f"missing result file {path} for run {run!r} "
                                        f"(dataset {dataset!r})")
            maps[(dataset, run)] = read_npz(path)
    return maps


def build_report(manifest: list[dict], results_dir: Path, config: Mapping, out_html: Path,
                 out_tex: Path, summary_dir: Path | None = None,
                 departures: Sequence[str] = (), benchmark: Path | None = None) -> None:
    """Collect the results of `manifest`, write the CSV summaries, render HTML and LaTeX.

    ``benchmark`` is the cost.json to show, or None: a stale file from an earlier run with the
    benchmark enabled is never picked up on its own.
    """
    results_dir = Path(results_dir)
    tables = T.collect(manifest, results_dir)
    bench = load_benchmark(benchmark) if benchmark else None
    if summary_dir is not None:
        extra = {"cost": pd.DataFrame(bench["rows"])} if bench else {}
        T.write_tables({**tables, **extra}, Path(summary_dir))
    render_report(tables, config=config, maps=load_maps(tables, results_dir), out_html=out_html,
                  out_tex=out_tex, benchmark=bench, departures=departures)
