"""The replication report: HTML and LaTeX rendered by jinja2 from the same pandas tables.

`build_report` is the entry point the report job calls with its rule's input files. Its steps,
each in its own module: load (`sagr.results`), aggregate (`sagr.summaries`, `sagr.claims`,
statistics in `sagr.stats`), write the CSV summaries and the figures (`sagr.figures`, an explicit
step), present (`sagr.presentation`) and render (this module: jinja2 templates).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
import yaml
from markupsafe import Markup

from sagr import claims as C
from sagr import figures, latex
from sagr import presentation as P
from sagr import summaries as S
from sagr import tradeoff as T
from sagr.convergence import convergence
from sagr.files import plain, read_json, read_npz
from sagr.labels import (
    WORST,
    dataset_label,
    estimator_label,
    method_label,
    param_label,
    param_rank,
    sorted_methods,
)
from sagr.results import Results, load, provenance_row, write_tables
from sagr.robustness.describe import describe_suite
from sagr.stats import LEVEL, POWER

PAPER = (
    "Li, Hu, Lin, Wu & Shen, “Revisiting Gradient Regularization: Inject Robust "
    "Saliency-Aware Weight Bias for Adversarial Defense”, IEEE Transactions on Information "
    "Forensics and Security 18, 5936–5949 (2023), doi:10.1109/TIFS.2023.3289000"
)
TEMPLATES = Path(__file__).parent / "templates"
FAIL_CSS = "color: #b00020; font-weight: bold;"
PASS_CSS = "color: #1a7f37;"
NA_CSS = "color: #777777;"

# Escaping lives in sagr.latex (the template layer); re-exported for callers of report.
latex_escape = latex.latex_escape


# ---------------------------------------------------------------- tables in both formats


def _styler(
    df: pd.DataFrame, style: Callable[[Any], str] | None, subset: Sequence[str] | None, uid: str
) -> pd.io.formats.style.Styler:
    """A Styler without the index (tables carry their labels as columns) and with cell styles."""
    styler = df.style.hide(axis="index").set_uuid(uid)
    if style is not None:
        styler = styler.map(style, subset=list(subset) if subset is not None else None)
    return styler


def table(
    df: pd.DataFrame,
    uid: str,
    *,
    style: Callable[[Any], str] | None = None,
    subset: Sequence[str] | None = None,
    column_format: str | None = None,
    long: bool = False,
    numeric: bool = True,
) -> dict[str, str]:
    """One DataFrame rendered as HTML (escaped, classed) and as a booktabs LaTeX tabular."""
    html = (
        _styler(df, style, subset, uid)
        .format(escape="html", na_rep="–")
        .format_index(escape="html", axis=1)
        .set_table_attributes(f'class="tbl{" num" if numeric else ""}"')
        .to_html()
    )
    column_format = column_format or "l" * df.shape[1]
    tex = (
        _styler(df, style, subset, uid)
        .format(latex_escape, na_rep="--")
        .format_index(latex_escape, axis=1)
        .to_latex(
            hrules=True,
            convert_css=True,
            column_format=column_format,
            multicol_align="c",
            environment="longtable" if long else None,
        )
    )
    if not long:  # wide tables shrink to the text width, narrow ones keep their size
        tex = "\\begin{adjustbox}{max width=\\linewidth}\n" + tex + "\\end{adjustbox}\n"
    return {"html": Markup(html), "tex": latex.Latex(tex)}


def _status_css(value: Any) -> str:
    """Red for a failed masking check, green for a pass, grey for n.a."""
    return {"fail": FAIL_CSS, "pass": PASS_CSS, "n.a.": NA_CSS}.get(value, "")


def _flag_css(value: Any) -> str:
    """Red for a method label carrying the masking warning."""
    return FAIL_CSS if isinstance(value, str) and P.FLAG in value else ""


def _flat(df: pd.DataFrame) -> pd.DataFrame:
    """Index levels as ordinary columns (MultiIndex columns get the label on the top level)."""
    if isinstance(df.columns, pd.MultiIndex):
        names = list(df.index.names)
        out = df.copy()
        out.index = range(len(out))
        for level, name in reversed(list(enumerate(names))):
            out.insert(0, (name,) + ("",) * (df.columns.nlevels - 1), df.index.get_level_values(level))
        out.columns = pd.MultiIndex.from_tuples(out.columns)
        return out
    return df.reset_index()


# ---------------------------------------------------------------- aggregate


@dataclass
class Summaries:
    """Everything the report computes from `Results`, in plain columns (see `sagr.summaries`)."""

    robustness: pd.DataFrame
    curves: pd.DataFrame
    saliency: pd.DataFrame
    paired: pd.DataFrame
    ablation_points: pd.DataFrame
    ablation: pd.DataFrame
    claims: pd.DataFrame
    estimators: pd.DataFrame
    lam_points: pd.DataFrame = field(default_factory=pd.DataFrame)
    lam: pd.DataFrame = field(default_factory=pd.DataFrame)
    lam_choice: pd.DataFrame = field(default_factory=pd.DataFrame)
    convergence: pd.DataFrame = field(default_factory=pd.DataFrame)

    def tables(self) -> dict[str, pd.DataFrame]:
        """CSV name → table."""
        return {
            "robustness_summary": self.robustness,
            "saliency_summary": self.saliency,
            "paired_differences": self.paired,
            "ablation_points": self.ablation_points,
            "ablation_summary": self.ablation,
            "claims": self.claims,
            "estimator_check": self.estimators,
            "lambda_points": self.lam_points,
            "lambda_summary": self.lam,
            "lambda_choice": self.lam_choice,
            "convergence": self.convergence,
        }


def summarize(res: Results, lambda_rule: Mapping | None = None) -> Summaries:
    """All aggregates of one result set; `lambda_rule` (config ``ablation.lambda_rule``) picks λ."""
    robustness = S.robustness_summary(res)
    points = S.ablation_points(res)
    lam_points = T.lam_points(res, lambda_rule["baseline"] if lambda_rule else None)
    lam = T.lam_summary(lam_points)
    choice = (
        T.lam_choice(lam, res, lambda_rule["max_clean_drop"], lambda_rule["baseline"])
        if lambda_rule
        else pd.DataFrame()
    )
    return Summaries(
        robustness=robustness,
        curves=S.curves(robustness),
        saliency=S.saliency_summary(res),
        paired=S.paired_differences(res),
        ablation_points=points,
        ablation=S.ablation_summary(points),
        claims=C.evaluate(res),
        estimators=S.estimator_check(res),
        lam_points=lam_points,
        lam=lam,
        lam_choice=choice,
        convergence=convergence(res.history),
    )


# ---------------------------------------------------------------- figures (an explicit step)


def write_figures(
    res: Results, summ: Summaries, maps: Mapping[tuple[str, str], Mapping], fig_dir: Path
) -> dict[str, Any]:
    """Write every figure under fig_dir; returns their stems: curves, ablation[param], saliency."""
    out: dict[str, Any] = {"curves": None, "ablation": {}, "saliency": {}, "tradeoff": None, "training": {}}
    for dataset in res.datasets():
        if not res.history.empty and (res.history["dataset"] == dataset).any():
            out["training"][dataset] = figures.training_curves(
                res.history, summ.convergence, dataset, fig_dir
            )
    if not summ.curves.empty:
        out["curves"] = figures.robust_vs_eps(summ.curves, res.datasets(), fig_dir)
    if not summ.lam.empty and (summ.lam["metric"] == WORST).any():
        c = summ.lam_choice
        ref = (
            {r.dataset: (r.reference, r.reference - r.max_clean_drop) for r in c.itertuples()}
            if len(c)
            else None
        )
        out["tradeoff"] = figures.tradeoff(summ.lam, res.datasets(), fig_dir, ref)
    numeric, _ = S.sweep_params(summ.ablation_points)
    for param in numeric:
        out["ablation"][param] = figures.ablation(summ.ablation, param, res.datasets(), fig_dir)
    for dataset in res.datasets():
        rows = [
            (label, maps[(dataset, run)])
            for label, run in saliency_rows(res, dataset)
            if (dataset, run) in maps
        ]
        if rows:
            out["saliency"][dataset] = figures.saliency_grid(rows, dataset, fig_dir)
    return out


def saliency_rows(res: Results, dataset: str) -> list[tuple[str, str]]:
    """(method label, run) of the lowest-seed main run of each method: the figure's rows."""
    r = res.ok_runs()
    r = r[(r["dataset"] == dataset) & r["main"].astype(bool)].sort_values("seed")
    first = r.drop_duplicates("method")
    return [
        (method_label(m), run)
        for m, run in sorted(
            zip(first["method"], first["run"], strict=True),
            key=lambda t: sorted_methods(first["method"]).index(t[0]),
        )
    ]


# ---------------------------------------------------------------- report sections


def _main_sections(res: Results, summ: Summaries) -> list[dict]:
    """Per dataset: the method × (attack, ε) table, its masking footnotes and its n."""
    summary = summ.robustness
    out = []
    for dataset in res.datasets():
        ds = summary[summary["dataset"] == dataset]
        if ds.empty:
            continue
        failures = P.masking_failures(res, dataset)
        main = P.main_table(summary, dataset, res.suite(), flagged=failures)
        df = _flat(main)
        # The PDF shows it transposed (rows = attack x eps, columns = methods): it fits a page.
        df_t = main.T.reset_index()
        subsets = sorted({int(n) for n, pts in zip(ds["n"], ds["points"], strict=True) if pts != "all"})
        out.append(
            {
                "dataset": dataset_label(dataset),
                "key": dataset,
                "table": table(
                    df,
                    f"main_{dataset}",
                    style=_flag_css,
                    subset=[df.columns[0]],
                    column_format="l" + "r" * (df.shape[1] - 1),
                ),
                "table_t": table(df_t, f"main_t_{dataset}", column_format="ll" + "r" * (df_t.shape[1] - 2)),
                "n_eval": res.eval_sizes(dataset),
                "subsets": subsets,
                "seeds": res.seeds_of(dataset),
                "failures": {method_label(m): lines for m, lines in failures.items()},
            }
        )
    return out


def _masking_section(res: Results) -> dict:
    """Every model's masking checks per dataset, counts of failures, reference AutoAttack."""
    m = res.masking
    per = []
    present = set(m["dataset"]) if not m.empty else set()
    for dataset in [d for d in res.datasets() if d in present]:
        df = P.masking_table(res, dataset)
        per.append(
            {
                "dataset": dataset_label(dataset),
                "key": dataset,
                "n_fail": int((df["Result"] == "fail").sum()),
                "table": table(
                    df,
                    f"masking_{dataset}",
                    style=_status_css,
                    subset=["Result"],
                    long=True,
                    numeric=False,
                    column_format="llp{3.2cm}p{3cm}lrrrp{4cm}",
                ),
            }
        )
    ref = P.reference_table(res)
    alphas = sorted({float(a) for a in m["alpha"].dropna()}) if not m.empty else []
    return {
        "datasets": per,
        "n_models": int(m[["dataset", "run"]].drop_duplicates().shape[0]) if not m.empty else 0,
        "n_checks": len(m),
        "n_fail": int((m["status"] == "fail").sum()) if not m.empty else 0,
        "n_na": int((m["status"] == "n.a.").sum()) if not m.empty else 0,
        "alphas": alphas,
        "reference": table(ref, "reference", numeric=False) if not ref.empty else None,
        "reference_differs": int(res.reference["differs"].sum()) if not res.reference.empty else 0,
    }


def _ablation_section(res: Results, summ: Summaries, figs: Mapping) -> dict | None:
    """Sweep tables for every swept parameter and line plots for the numeric ones."""
    points = summ.ablation_points
    if points.empty:
        return None
    numeric, categorical = S.sweep_params(points)
    items = []
    for param in sorted(numeric, key=param_rank) + sorted(categorical, key=param_rank):
        df = P.ablation_table(summ.ablation, param, res.datasets())
        items.append(
            {
                "param": param,
                "label": param_label(param),
                "figure": figs["ablation"].get(param),
                "table": table(df, f"ablation_{param}", column_format="ll" + "r" * (df.shape[1] - 2)),
            }
        )
    worst = points[points["metric"] == "worst_case"]
    eps = {
        dataset_label(d): P.fmt_eps(e) for d, e in worst.groupby("dataset", sort=False)["eps"].max().items()
    }
    suites = {
        f"{dataset_label(d)}, {param_label(p)}": s.replace(",", ", ")
        for (d, p), s in worst.groupby(["dataset", "param"], sort=False)["suite"].first().items()
    }
    return {"items": items, "eps": eps, "suites": suites}


def _paired_section(res: Results, summ: Summaries) -> list[dict]:
    """Per dataset: the paired differences table."""
    out = []
    for dataset in res.datasets():
        if summ.paired.empty or dataset not in set(summ.paired["dataset"]):
            continue
        df = P.paired_table(summ.paired, dataset).reset_index()
        out.append(
            {
                "dataset": dataset_label(dataset),
                "key": dataset,
                "table": table(df, f"paired_{dataset}", numeric=False),
            }
        )
    return out


def _estimator_section(res: Results, summ: Summaries) -> list[dict]:
    """Per dataset × method with an estimator sweep: the config's default estimator, and for each
    other estimator the budgets where its worst case falls outside the base estimator's interval."""
    check = summ.estimators
    out = []
    if check.empty:
        return out
    for (dataset, method), g in check.groupby(["dataset", "method"], sort=False):
        others = []
        for estimator, h in g[g["estimator"] != g["base"]].groupby("estimator", sort=False):
            outside = [
                P.fmt_eps(e) for e, w in zip(h["eps"], h["within"], strict=True) if not pd.isna(w) and not w
            ]
            others.append({"label": estimator_label(estimator), "outside": outside})
        default = g["default"].iloc[0]
        df = P.estimator_table(g, res.datasets())
        out.append(
            {
                "dataset": dataset_label(dataset),
                "method": method_label(method),
                "default": estimator_label(default) if default else None,
                "base": estimator_label(g["base"].iloc[0]),
                "eps": [P.fmt_eps(e) for e in sorted(g["eps"].unique())],
                "others": others,
                "table": table(df, f"estimators_{dataset}_{method}", column_format="lllllrrl"),
            }
        )
    return out


def _tradeoff_section(summ: Summaries, figs: Mapping, lambda_rule: Mapping | None) -> dict | None:
    """The λ trade-off figure, the λ rule as the config states it, and the λ it picks per method."""
    if summ.lam.empty:
        return None
    choice = summ.lam_choice
    rule = None
    if lambda_rule:
        rule = (
            f"the largest λ whose clean accuracy (mean over the sweep’s seeds, on the sweep’s clean points) is at"
            f" most {100 * lambda_rule['max_clean_drop']:g} point(s) below {method_label(lambda_rule['baseline'])}’s"
            " on the same points and seeds"
        )
    df = P.lam_choice_table(choice) if len(choice) else pd.DataFrame()
    worst = summ.lam[summ.lam["metric"] == WORST]
    return {
        "figure": figs.get("tradeoff"),
        "rule": rule,
        "table": table(df, "lambda_choice", numeric=False) if not df.empty else None,
        "n_disagree": int((~choice["agrees"].astype(bool)).sum()) if len(choice) else 0,
        "suites": {
            f"{dataset_label(d)}, ε={P.fmt_eps(e)}": s.replace(",", ", ")
            for (d, e), s in worst.groupby(["dataset", "eps"], sort=False)["suite"].first().items()
        },
    }


def _training_curves_section(summ: Summaries, figs: Mapping) -> dict | None:
    """Each dataset's validation curves, the convergence rule, and the runs still improving."""
    c = summ.convergence
    if c.empty:
        return None
    flagged = c[c["still_improving"].eq(True)]
    df = P.convergence_table(flagged)
    return {
        "figures": [{"dataset": dataset_label(d), "figure": f} for d, f in figs.get("training", {}).items()],
        "n_runs": len(c),
        "n_judged": int(c["judged"].sum()),
        "n_improving": len(flagged),
        "table": table(df, "convergence", numeric=False) if not df.empty else None,
    }


def _claims_section(summ: Summaries) -> dict | None:
    """The claims table and a count of verdicts."""
    if summ.claims.empty:
        return None
    df = P.claims_table(summ.claims)
    return {
        "table": table(
            df,
            "claims",
            numeric=False,
            long=True,
            column_format="lp{3.5cm}p{3cm}llp{5cm}l",
            style=_verdict_css,
            subset=["Verdict"],
        ),
        "counts": df["Verdict"].value_counts().to_dict(),
        "floor": f"{100 * C.FLOOR:g}",
        "power": f"{100 * POWER:g}",
        "uninformative": C.UNINFORMATIVE,
    }


def _verdict_css(value: Any) -> str:
    return {C.SUPPORTED: PASS_CSS, C.CONTRADICTED: FAIL_CSS}.get(value, NA_CSS)


def _setup_section(res: Results, config: Mapping) -> dict:
    """Every attack with its parameters, the suite in words (from the config, at render time: no
    result stores prose) and the evaluation subset sizes."""
    texts = [describe_suite(dict(config["attacks"]))] if config.get("attacks") else []
    sizes = {dataset_label(d): res.eval_sizes(d) for d in res.datasets()}
    df = P.attack_setup_table(res)
    return {
        "table": table(df, "setup", numeric=False, column_format="lllllp{1.5cm}p{4cm}p{4cm}", long=True),
        "autoattack": texts,
        "sizes": sizes,
    }


def _cost_section(benchmark: dict) -> dict:
    """One step-cost table per architecture × device × source, and the estimators' noise."""
    tables = [
        {**meta, "table": table(df, f"cost_{i}", column_format="llrrrrl")}
        for i, (meta, df) in enumerate(P.cost_tables(benchmark))
    ]
    noise = P.noise_table(benchmark)
    return {
        "tables": tables,
        "noise": table(noise, "noise", column_format="lllrrrrl") if not noise.empty else None,
    }


def _provenance_section(res: Results, config: Mapping, benchmark: dict | None) -> dict:
    """Versions, devices, commits and per-job wall time (the benchmark's job included)."""
    jobs = res.jobs
    if benchmark and benchmark.get("provenance"):
        row = provenance_row({"dataset": "", "run": "benchmark"}, "cost.json", benchmark["provenance"])
        jobs = pd.concat([jobs, pd.DataFrame([row])], ignore_index=True)
    dirty = bool(jobs["git_dirty"].fillna(False).astype(bool).any()) if not jobs.empty else False
    return {
        "versions": table(P.versions_table(jobs), "versions", numeric=False),
        "jobs": table(P.jobs_summary(jobs), "jobs", column_format="llrrrr"),
        "devices": P.distinct(jobs, "device"),
        "hosts": P.distinct(jobs, "host"),
        "commits": P.distinct(jobs, "git_commit"),
        "dirty": dirty,
        # Snakemake hands over its own mapping types: plain dicts for YAML.
        "config_yaml": yaml.safe_dump(plain(config, "config"), sort_keys=False, allow_unicode=True),
    }


def _howto(res: Results) -> dict:
    """The facts the "How to read" text states, from the data: n per dataset, seeds, level."""
    return {
        "n_eval": {dataset_label(d): res.eval_sizes(d) for d in res.datasets()},
        "seeds": {dataset_label(d): len(res.seeds_of(d)) for d in res.datasets()},
        "level": f"{100 * LEVEL:g}",
    }


def build_context(
    res: Results,
    summ: Summaries,
    figs: Mapping,
    *,
    config: Mapping,
    benchmark: dict | None = None,
    departures: Sequence[str] = (),
    date: str | None = None,
) -> dict:
    """Everything the HTML and LaTeX templates show."""
    failed = P.failed_runs_table(res)
    runs = res.runs
    return {
        "paper": PAPER,
        "date": date or dt.date.today().isoformat(),
        "datasets": [dataset_label(d) for d in res.datasets()],
        "methods": [method_label(m) for m in sorted_methods(runs["method"])],
        "seeds": sorted(int(s) for s in runs["seed"].unique()),
        "n_runs": len(runs),
        "howto": _howto(res),
        "main": _main_sections(res, summ),
        "curves": figs["curves"],
        "claims": _claims_section(summ),
        "paired": _paired_section(res, summ),
        "masking": _masking_section(res),
        "saliency": table(
            P.saliency_table(summ.saliency, res.datasets()), "saliency", column_format="llrrrrr"
        ),
        "saliency_figures": [{"dataset": dataset_label(d), "figure": f} for d, f in figs["saliency"].items()],
        "ablation": _ablation_section(res, summ, figs),
        "training_curves": _training_curves_section(summ, figs),
        "tradeoff": _tradeoff_section(summ, figs, (config.get("ablation") or {}).get("lambda_rule")),
        "failed_runs": table(failed, "failed", numeric=False) if not failed.empty else None,
        "n_failed": len(failed),
        "cost": _cost_section(benchmark) if benchmark else None,
        "estimators": _estimator_section(res, summ),
        "training": table(P.training_table(res), "training", long=True, column_format="llp{4.5cm}lrrrrr"),
        "setup": _setup_section(res, config),
        "departures": list(departures),
        "provenance": _provenance_section(res, config, benchmark),
    }


# ---------------------------------------------------------------- render


def _environments() -> tuple[jinja2.Environment, jinja2.Environment]:
    """Jinja environments: HTML autoescaped; LaTeX with <% %> / << >> so braces stay literal."""
    loader = jinja2.FileSystemLoader(TEMPLATES)
    html = jinja2.Environment(
        loader=loader, autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    tex = jinja2.Environment(
        loader=loader,
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        block_start_string="<%",
        block_end_string="%>",
        variable_start_string="<<",
        variable_end_string=">>",
        comment_start_string="<#",
        comment_end_string="#>",
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=latex.finalize,
    )
    # Every << value >> is escaped by `finalize`; `tex` escapes inside an expression,
    # `latex` marks ready-made LaTeX (pandas tables), `verbatim` makes text verbatim-safe.
    tex.filters["tex"] = lambda v: latex.Latex(latex.latex_escape(v))
    tex.filters["latex"] = latex.as_latex
    tex.filters["verbatim"] = lambda v: latex.Latex(latex.verbatim_ascii(v))
    return html, tex


def render_report(context: Mapping[str, Any], out_html: Path, out_tex: Path, fig_dir: Path) -> None:
    """Write index.html and report.tex from the context; figures are already in fig_dir."""
    out_html, out_tex = Path(out_html), Path(out_tex)
    html_env, tex_env = _environments()
    out_html.parent.mkdir(parents=True, exist_ok=True)
    fig_html = Path(os.path.relpath(fig_dir, out_html.parent)).as_posix()
    out_html.write_text(html_env.get_template("index.html.j2").render(fig=fig_html, **context))
    out_tex.parent.mkdir(parents=True, exist_ok=True)
    fig_tex = Path(os.path.relpath(fig_dir, out_tex.parent)).as_posix()
    out_tex.write_text(tex_env.get_template("report.tex.j2").render(fig=fig_tex, **context))


# ---------------------------------------------------------------- entry point


def load_benchmark(path: Path) -> dict | None:
    """cost.json if the benchmark ran, else None (the cost section then shows training only)."""
    path = Path(path)
    return read_json(path) if path.is_file() else None


def load_maps(res: Results) -> dict[tuple[str, str], Any]:
    """maps.npz of the runs the saliency figure shows (each method's lowest-seed main run)."""
    maps = {}
    for dataset in res.datasets():
        for _, run in saliency_rows(res, dataset):
            path = res.maps.get((dataset, run))
            if path is None:
                continue
            if not Path(path).is_file():
                raise FileNotFoundError(f"missing result file {path} for run {run!r} (dataset {dataset!r})")
            maps[(dataset, run)] = read_npz(path)
    return maps


def build_report(
    manifest: Sequence[Mapping],
    inputs: Mapping[str, Sequence[str | Path]],
    config: Mapping,
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
    summ = summarize(res, (config.get("ablation") or {}).get("lambda_rule"))
    bench = load_benchmark(benchmark) if benchmark else None
    if summary_dir is not None:
        extra = summ.tables()
        if bench:
            extra.update(cost=pd.DataFrame(bench["rows"]), cost_noise=pd.DataFrame(bench.get("noise", [])))
        write_tables(res, Path(summary_dir), extra)
    fig_dir = Path(fig_dir) if fig_dir is not None else Path(out_html).parent / "figures"
    figs = write_figures(res, summ, load_maps(res), fig_dir)
    context = build_context(res, summ, figs, config=config, benchmark=bench, departures=departures, date=date)
    render_report(context, out_html, out_tex, fig_dir)
