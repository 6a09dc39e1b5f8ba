"""The replication report: one document, built here, laid out as HTML and LaTeX by jinja2.

`build_report` is the entry point the report job calls with its rule's input files. Its steps,
each in its own module: load (`sagr.results`), aggregate (`sagr.summaries`, `sagr.claims`,
statistics in `sagr.stats`), write the CSV summaries and the figures (`sagr.figures`, an explicit
step), present (`sagr.presentation`: display tables), compose (this module: the `sagr.document`
model, every sentence of the report, in paper order) and render (the templates, layout only).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
import yaml
from markupsafe import Markup, escape

from sagr import claims as C
from sagr import figures, latex
from sagr import presentation as P
from sagr import readings as R
from sagr import summaries as S
from sagr import tradeoff as T
from sagr import verdict_matrix as V
from sagr.convergence import convergence
from sagr.document import (
    Bullets,
    Code,
    Document,
    Figure,
    Paragraph,
    Section,
    Span,
    frame_table,
    spans,
    split_columns,
)
from sagr.files import plain, read_json, read_npz
from sagr.floors import floor_checks, main_accuracies, whole_split_clean
from sagr.labels import (
    CLEAN,
    ON_TEST_SPLIT,
    WORST,
    attack_labels,
    attack_rank,
    dataset_label,
    estimator_label,
    method_label,
    param_label,
    param_rank,
    sorted_methods,
)
from sagr.results import Results, load, provenance_row, write_tables
from sagr.robustness.describe import describable, describe_suite
from sagr.stats import LEVEL, POWER

PAPER = (
    "Li, Hu, Lin, Wu & Shen, “Revisiting Gradient Regularization: Inject Robust "
    "Saliency-Aware Weight Bias for Adversarial Defense”, IEEE Transactions on Information "
    "Forensics and Security 18, 5936–5949 (2023), doi:10.1109/TIFS.2023.3289000"
)
TITLE = "Replication report: Saliency-Aware Gradient Regularization (SAGR)"
TEMPLATES = Path(__file__).parent / "templates"


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
    readings: pd.DataFrame = field(default_factory=pd.DataFrame)
    smallest_effect: Mapping | None = None

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
            "readings": self.readings,
        }


def summarize(
    res: Results, lambda_rule: Mapping | None = None, smallest_effect: Mapping | None = None
) -> Summaries:
    """All aggregates of one result set; `lambda_rule` (config ``ablation.lambda_rule``) picks λ;
    `smallest_effect` (config ``claims.smallest_effect``) gives the claims their equivalence margins."""
    margins = {k: v["value"] for k, v in (smallest_effect or {}).items()}
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
        claims=C.evaluate(res, margins=margins),
        estimators=S.estimator_check(res),
        lam_points=lam_points,
        lam=lam,
        lam_choice=choice,
        convergence=convergence(res.history),
        readings=R.evaluate(res, margins),
        smallest_effect=smallest_effect,
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


# ---------------------------------------------------------------- the document


def _note(*parts: str | Span | None) -> Paragraph:
    return Paragraph(spans(*parts), note=True)


def _para(*parts: str | Span | None) -> Paragraph:
    return Paragraph(spans(*parts))


def _one_dataset(df: pd.DataFrame, res: Results, column: str = "Dataset") -> pd.DataFrame:
    """A table over datasets without its dataset column when the run has only one."""
    return df.drop(columns=column) if len(res.datasets()) == 1 and column in df else df


def _style_flag(column: str, value: Any) -> str:
    """Red for a method label carrying the masking warning."""
    return "fail" if isinstance(value, str) and P.FLAG in value else ""


def _style_status(column: str, value: Any) -> str:
    if column == "Result":
        return {"fail": "fail", "pass": "ok", "n.a.": "na"}.get(value, "")
    return ""


def _style_verdict(column: str, value: Any) -> str:
    if column != "Verdict":
        return ""
    return {C.SUPPORTED: "ok", C.CONTRADICTED: "fail"}.get(value, "na")


def _style_counts(column: str, value: Any) -> str:
    return "fail" if isinstance(value, str) and "failed" in value else ""


def _style_reference(column: str, value: Any) -> str:
    if column != "Verdict":
        return ""
    return "fail" if value == P.DIFFERS else "na" if str(value).startswith(P.TOO_FEW) else ""


def _numeric(df: pd.DataFrame, first: int = 1) -> list:
    """The columns after the first `first` ones (right-aligned numbers)."""
    return list(df.columns[first:])


def _lede(res: Results) -> list[Span]:
    """One sentence: what this run trained, how it attacked the models, on how many points."""
    runs = res.runs
    methods = [method_label(m) for m in sorted_methods(runs["method"].unique())]
    datasets = [dataset_label(d) for d in res.datasets()]
    seeds = sorted(int(s) for s in runs.loc[runs["main"].astype(bool), "seed"].unique())
    rec = res.records
    rec = rec[rec["attack"] != CLEAN] if not rec.empty else rec
    attacks = (
        list(
            dict.fromkeys(
                attack_labels(res.suite()).get(a, a)
                for a in sorted(rec["attack"].unique(), key=attack_rank(res.suite()))
            )
        )
        if not rec.empty
        else []
    )
    n = sorted({n for d in res.datasets() for n in res.eval_sizes(d)})
    extra = len(runs) - int(runs["main"].astype(bool).sum())

    def budgets(dataset: str) -> str:
        r = rec[rec["dataset"] == dataset] if not rec.empty else rec
        linf = sorted(r.loc[(r["norm"] == "linf") & (r["eps"] < 1), "eps"].unique()) if not r.empty else []
        l2 = sorted(r.loc[r["norm"] == "l2", "eps"].unique()) if not r.empty else []
        text = f"L∞ ε ∈ {{{', '.join(P.fmt_eps(e) for e in linf)}}}"
        return text + (f" (and L2 ε ∈ {{{', '.join(P.fmt_eps(e) for e in l2)}}})" if l2 else "")

    if len(res.datasets()) == 1:
        budget = budgets(res.datasets()[0])
    else:
        budget = "; ".join(f"{budgets(d)} on {dataset_label(d)}" for d in res.datasets())
    # short enough for two lines: the methods are the headline table's rows, the attacks are listed
    # in the evaluation set-up
    return spans(
        f"This run trained {len(runs)} models ({len(methods)} method{'s' if len(methods) != 1 else ''} × "
        f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''} on {', '.join(datasets)}"
        + (f", plus {extra} ablation point{'s' if extra != 1 else ''}" if extra else "")
        + f") and attacked each with {len(attacks)} attack{'s' if len(attacks) != 1 else ''} at {budget} "
        f"on n = {', '.join(map(str, n))} fixed test points."
    )


def _verdicts_section(res: Results, summ: Summaries) -> Section:
    sec = Section("claims", "Verdicts on the paper's claims")
    if summ.claims.empty:
        return sec.add(_para("No claim could be evaluated: the runs the comparisons need are missing."))
    df = P.verdicts_table(summ.claims, res.datasets())
    # the claim's words get the room the numbers leave; the numbers never wrap
    wrap = {"Claim": 40, "Verdict": 13, "Deciding comparison": 26}
    if "Dataset" in df:  # a claim's rows, one per dataset, share its statement: it gets the room
        wrap = {"Claim": 36, "Verdict": 12, "Deciding comparison": 18}
    t = frame_table(
        df,
        "claims",
        "The paper's claims: each verdict with the comparison A − B that decides it",
        style=_style_verdict,
        wrap=wrap,
        right=["MDE", "n × seeds"],
    )
    return sec.add(
        t,
        _note(
            "Shown: the weakest support, the strongest evidence against, or the undecided comparison with the "
            "largest MDE (the smallest difference it would detect with "
            f"{100 * POWER:g} % power); interval at the claim's Bonferroni level. All comparisons: “The claims "
            "in detail”."
        ),
    )


def _headline_section(res: Results, summ: Summaries) -> Section:
    sec = Section("main", "Headline results")
    summary = summ.robustness
    for dataset in res.datasets():
        if summary[summary["dataset"] == dataset].empty:
            continue
        failures = P.masking_failures(res, dataset)
        df = _flat(P.headline_table(summary, dataset, res.suite(), flagged=failures))
        title = (
            f"{dataset_label(dataset)}: accuracy (%) of each method, clean and under the worst case over "
            "every L∞ attack at each ε"
        )
        t = frame_table(df, f"headline-{dataset}", title, style=_style_flag, right=_numeric(df))
        sec.add(*split_columns(t))
        if failures:
            sec.add(
                Bullets(
                    [
                        spans(
                            Span(f"{P.FLAG} {method_label(m)}", "warn"),
                            " failed gradient-masking checks: ",
                            "; ".join(lines) + ".",
                        )
                        for m, lines in failures.items()
                    ],
                    note=True,
                )
            )
    seeds = {dataset_label(d): len(res.seeds_of(d)) for d in res.datasets()}
    return sec.add(
        _note(
            "Cells: mean ± sd over seeds (",
            "; ".join(f"{d}: {s}" for d, s in seeds.items()),
            f") [{100 * LEVEL:g} % interval on the n points of the column head]. Worst case: a point counts as "
            "robust only if it survives every L∞ attack run at that ε; “no APGD”: none of them was "
            "APGD-strength, so it may overstate robustness. More in “How to read the numbers”; every attack "
            "on its own in the appendix (“Accuracy under each attack”).",
        )
    )


def _floors_section(res: Results, summ: Summaries, config: Mapping) -> Section | None:
    """The configured quality floors (datasets.<d>.floors) against this run: is each model at the
    published grade its numbers need?"""
    df = floor_checks(
        config, summ.robustness, main_accuracies(res.records, res.worst_case), whole_split_clean(res.training)
    )
    if df.empty:
        return None

    def pct(v: Any) -> str:  # two decimals: a floor missed by a hair must not print as met
        return "—" if pd.isna(v) else f"{100 * v:.2f}"

    shown = pd.DataFrame(
        {
            "Dataset": df["dataset"].map(dataset_label),
            "Method": df["method"].map(method_label),
            "Measure": [
                ("clean, whole test split" if on == ON_TEST_SPLIT else "clean")
                if m == "clean"
                else f"worst case, ε={P.fmt_eps(e)}"
                for m, e, on in zip(df["measure"], df["eps"], df["points"], strict=True)
            ],
            "Floor (%)": df["floor"].map(pct),
            "Mean (%)": df["mean"].map(pct),
            "Interval (%)": [
                "—" if pd.isna(lo) else f"[{100 * lo:.1f}, {100 * hi:.1f}]"
                for lo, hi in zip(df["ci_low"], df["ci_high"], strict=True)
            ],
            "Lowest seed (%)": df["seed_min"].map(pct),
            "n × seeds": [
                "—" if pd.isna(n) else f"{int(n)} × {int(k)}"
                for n, k in zip(df["n"], df["seeds"], strict=True)
            ],
            "Result": df["status"],
            "Published": df["source"],
        }
    )
    t = frame_table(
        _one_dataset(shown, res),  # one dataset: its column would push "Published" into a part alone
        "floors",
        "Quality floors: are the models at published grade?",
        style=_style_status,
        wrap={"Published": 40},
        right=["Floor (%)", "Mean (%)", "Lowest seed (%)"],
    )
    failed = int((df["status"] == "fail").sum())
    return Section("floors", "Quality floors").add(
        *split_columns(t),
        _note(
            "Each robustness floor is checked on the pipeline's own worst case over every attack of the suite "
            "on every evaluated point, mean over the seeds (interval: 95 % Clopper–Pearson on the n points); a "
            "clean floor on the whole test split where the training record has it, as published clean "
            "accuracies are. ",
            Span(
                f"{failed} floor(s) not met: those models' numbers say more about the training budget "
                "than about the method.",
                "warn",
            )
            if failed
            else "Every floor is met.",
        ),
    )


def _howto_section(res: Results) -> Section:
    n_eval = {dataset_label(d): res.eval_sizes(d) for d in res.datasets()}
    return Section("howto", "How to read the numbers").add(
        _para(
            "Accuracies are in % on a fixed, seeded test subset (",
            "; ".join(f"{d}: n = {', '.join(map(str, n))}" for d, n in n_eval.items()),
            "), the same points for every model; higher is more robust; ε is the attack budget in [0, 1] "
            "pixel space. ",
            Span("± sd is the seed-to-seed spread", "b"),
            " (no ± with one seed); ",
            Span("[low, high] is the point-sampling error", "b"),
            f", a {100 * LEVEL:g} % Clopper–Pearson interval for n test points. Every column head (or cell) "
            "states its n; “subset” marks numbers on the first n points only and “cascade” numbers on the "
            "points cheaper attacks left robust: never compare those with full-n numbers as if they were "
            "alike. Differences (A − B) are paired over the same seeds and points. A ",
            Span(P.FLAG, "warn"),
            " next to a method means one of its models failed a gradient-masking check: treat its robust "
            "numbers as suspect. What each method, attack, metric and check computes: ",
            Span("docs/method.md", href="../docs/method.md"),
            ".",
        ),
        _para(
            "A claim of the paper is a set of paired comparisons A − B (same seeds, same points), each with the "
            "sign the claim predicts, and its intervals are Bonferroni-adjusted (level 1 − 0.05/k for k "
            "comparisons, family-wise 5 %). ",
            Span(C.SUPPORTED, "b"),
            ": every interval on the predicted side of 0; ",
            Span(C.CONTRADICTED, "b"),
            ": some interval entirely on the other side; ",
            Span(C.INCONCLUSIVE, "b"),
            ": otherwise; ",
            Span(C.NOT_TESTED, "b"),
            ": the runs it needs are missing. A worst-case comparison where both models are below "
            f"{100 * C.FLOOR:g} % is ",
            Span("at the floor", "b"),
            " (no difference can show there): it is listed but decides nothing and is not counted in the "
            "Bonferroni k; a claim with nothing else to decide is ",
            Span(C.UNINFORMATIVE, "b"),
            ". A comparison whose premise (same ε) is not shown is not used either. An undecided comparison "
            "states its ",
            Span("minimum detectable effect", "b"),
            f" (MDE): the smallest true difference its two-sided test at the claim's level would detect with "
            f"{100 * POWER:g} % power, (t(1 − α/2) + t(power)) · SE with the interval's own SE and degrees of freedom; "
            "and the points per seed (seeds fixed) or seeds (points fixed) at which the MDE would fall to the "
            "observed effect (the point part of the SE scaling as 1/√n, the seed part as 1/√seeds).",
        ),
    )


def _curves_section(figs: Mapping) -> Section:
    sec = Section("curves", "Robust accuracy against ε")
    if not figs.get("curves"):
        return sec.add(_para("No worst-case records."))
    return sec.add(
        Figure(
            figs["curves"],
            "Worst case over attacks against ε, one panel per dataset (its n in the title); ε = 0 is clean "
            f"accuracy. Error bars: {100 * LEVEL:g} % point-sampling interval; shaded band: ± sd over seeds. "
            "A hollow marker was measured on fewer points than the rest of its panel and is not joined to them.",
            "robust accuracy against epsilon",
        )
    )


def _paired_section(res: Results, summ: Summaries) -> Section:
    sec = Section("paired", "Paired comparisons")
    sec.add(
        _note(
            "Difference A − B in worst-case accuracy at each ε (percentage points) and in each saliency "
            "metric, paired over the seeds both methods have and the points both were evaluated on, with a "
            f"{100 * LEVEL:g} % interval. The estimate is the mean over seeds of the per-seed difference; its "
            "standard error combines point sampling (the sd over points of the per-point difference averaged "
            "over seeds, / √n) and seed spread (the sd of the per-seed differences / √seeds), with a t "
            "quantile at Welch–Satterthwaite degrees of freedom. Saliency metrics are stored as per-model "
            "means and sds over the same images, so their point part treats the two models' images as "
            "independent (conservative)."
        )
    )
    shown = False
    for dataset in res.datasets():
        if summ.paired.empty or dataset not in set(summ.paired["dataset"]):
            continue
        df = P.paired_table(summ.paired, dataset).reset_index()
        title = f"{dataset_label(dataset)}: paired differences A − B"
        sec.add(*split_columns(frame_table(df, f"paired-{dataset}", title, right=_numeric(df))))
        shown = True
    if not shown:
        sec.add(_para("No pair of compared methods shares seeds (or no per-point results were given)."))
    return sec


def _claims_detail_section(summ: Summaries) -> Section | None:
    """Every claim with the metric that decides it and each comparison in full: its effect, interval,
    level, and what it could see (at the floor, its minimum detectable effect)."""
    if summ.claims.empty:
        return None
    df = P.claims_table(summ.claims)
    t = frame_table(
        df,
        "claims-detail",
        "Each claim, what decides it, and what each comparison could see",
        style=_style_verdict,
        wrap={"Statement": 22, "Decided by": 22, "Effect [interval]": 40, "Verdict": 12},
        long=True,
    )
    return Section("claims-detail", "The claims in detail").add(
        _note(
            "The verdicts of the first page with the metric that decides each claim and every comparison "
            "in full (rules in “How to read the numbers”)."
        ),
        t,
    )


def _masking_section(res: Results) -> Section:
    m = res.masking
    sec = Section("masking", "Gradient-masking checks")
    if m.empty:
        sec.add(Paragraph([Span("No gradient-masking checks were recorded for any model.", "fail")]))
    else:
        n_models = int(m[["dataset", "run"]].drop_duplicates().shape[0])
        n_fail, n_na = int((m["status"] == "fail").sum()), int((m["status"] == "n.a.").sum())
        alphas = sorted({float(a) for a in m["alpha"].dropna()})
        sec.add(
            _para(
                f"{n_models} models × their checks = {len(m)} results: ",
                Span(f"{n_fail} failed", "fail") if n_fail else Span("none failed", "b"),
                f", {n_na} not applicable. The checks: accuracy never rises with ε; unbounded PGD (ε = 1) "
                "reaches 0 %; black-box Square is never clearly stronger than white-box attacks; more PGD "
                "steps/restarts never raise accuracy."
                + (
                    " Paired tests (exact McNemar on the points where exactly one of two attacks succeeds) fail "
                    f"at α = {', '.join(f'{a:g}' for a in alphas)}."
                    if alphas
                    else ""
                )
                + " Failed checks are listed in full below; every result with its evidence is in the appendix "
                "(“Every gradient-masking check”).",
            )
        )
        for dataset in [d for d in res.datasets() if d in set(m["dataset"])]:
            df = P.masking_summary(res, dataset)
            title = f"{dataset_label(dataset)}: models per method that passed, failed or could not apply each check"
            t = frame_table(df, f"masking-summary-{dataset}", title, style=_style_counts, wrap={"Check": 30})
            sec.add(*split_columns(t))
        failed = _one_dataset(P.masking_failed_table(res), res)
        if failed.empty:
            sec.add(_para(Span("No check failed.", "b")))
        else:
            sec.add(
                frame_table(
                    failed.drop(columns="Result"),
                    "masking-failed",
                    "Every failed check in full",
                    wrap={"Run": 16, "Check": 18, "Detail": 34},
                    right=["p", "α", "n"],
                    long=True,
                )
            )
    sec.children.append(_reference_section(res))
    return sec


def _reference_section(res: Results) -> Section:
    sec = Section("reference", "Reference AutoAttack beside torchattacks'")
    df = P.reference_table(res)
    if df.empty:
        return sec.add(_para("The reference AutoAttack (Croce & Hein) was not run in this configuration."))
    points = sorted(set(res.reference["ref_points"].dropna()) - {""})
    summary = P.reference_summary(df, P.reference_alpha(res.reference["alpha"].dropna().min()))
    return sec.add(
        Paragraph(summary),
        frame_table(
            _one_dataset(df, res).rename(
                columns={
                    "torchattacks (%)": "torchattacks\n(%)",
                    "reference (%)": "reference\n(%)",
                    "Gap (pp of prefix)": "Gap (pp\nof prefix)",
                    "McNemar p": "McNemar\np",
                }
            ),
            "reference",
            "Reference AutoAttack and torchattacks' cascade on the same points, per model",
            style=_style_reference,
            wrap={"Verdict": 16, "Smallest detectable difference": 20},
            right=[
                "Seed",
                "ε",
                "n",
                "torchattacks\n(%)",
                "reference\n(%)",
                "Gap (pp\nof prefix)",
                "McNemar\np",
            ],
        ),
        _note(
            "Gap: the points only the reference broke, as percentage points of the prefix it was given (the "
            "amount by which it lowers the worst case there). Smallest detectable difference: the smallest "
            "difference in accuracy an exact McNemar test on n "
            "points could declare at all (every discordant point on one side); with fewer points than the test "
            "needs, no difference of any size could be detected."
            + (f" Points: {'; '.join(points)}." if points else "")
        ),
    )


def _saliency_section(res: Results, summ: Summaries, figs: Mapping) -> Section:
    sec = Section("saliency", "Saliency")
    sec.add(
        _note(
            "Per model, the mean of each metric over its n test images; then mean ± sd over seeds (main runs), "
            f"and in brackets the {100 * LEVEL:g} % point-sampling interval (± 1.96 · image sd / √n). Gini and "
            "alignment: higher is sharper / more image-like; entropy: lower is sharper; foreground mass only "
            "on black-background datasets."
        )
    )
    df = _one_dataset(P.saliency_table(summ.saliency, res.datasets()), res)
    if not df.empty:
        keep = 2 if "Dataset" in df else 1
        t = frame_table(df, "saliency", "Saliency-map sharpness per method", right=_numeric(df, keep))
        sec.add(*split_columns(t, keep=keep))
    for dataset, stem in figs["saliency"].items():
        sec.add(
            Figure(
                stem,
                f"{dataset_label(dataset)}: the same test images (top row) and their vanilla-gradient maps "
                "|∇ₓ z_y| under every method (seed 0), each map scaled to its 99th percentile.",
                f"saliency maps {dataset_label(dataset)}",
                width=0.8,
            )
        )
    return sec


def _ablation_section(res: Results, summ: Summaries, figs: Mapping) -> Section | None:
    points = summ.ablation_points
    if points.empty:
        return None
    numeric, categorical = S.sweep_params(points)
    worst = points[points["metric"] == "worst_case"]
    eps = {
        dataset_label(d): P.fmt_eps(e) for d, e in worst.groupby("dataset", sort=False)["eps"].max().items()
    }
    suites = {
        f"{dataset_label(d)}, {param_label(p)}": s.replace(",", ", ")
        for (d, p), s in worst.groupby(["dataset", "param"], sort=False)["suite"].first().items()
    }
    sec = Section("ablation", "Ablation").add(
        _note(
            "SAGR with one hyper-parameter varied around the default. Every point of a sweep, the default one "
            "included, is scored with the same attacks on the same points: the worst case at the largest ε every "
            "point was attacked at (",
            ", ".join(f"{d}: {e}" for d, e in eps.items()),
            ") over the attacks all points ran (",
            "; ".join(f"{k}: {s}" for k, s in suites.items()),
            "). Cells and error bars as in the headline table.",
        )
    )
    for param in sorted(numeric, key=param_rank) + sorted(categorical, key=param_rank):
        label = param_label(param)
        sub = Section(f"ablation-{param}", f"Against {label}")
        if figs["ablation"].get(param):
            sub.add(
                Figure(
                    figs["ablation"][param],
                    f"Clean accuracy, worst case and Gini against {label}.",
                    f"ablation over {label}",
                )
            )
        df = _one_dataset(P.ablation_table(summ.ablation, param, res.datasets()), res)
        keep = 2 if "Dataset" in df else 1
        t = frame_table(df, f"ablation-{param}", f"Sweep over {label}", right=_numeric(df, keep))
        sub.add(*split_columns(t, keep=keep))
        sec.children.append(sub)
    return sec


def _training_curves_section(summ: Summaries, figs: Mapping) -> Section | None:
    """Each dataset's validation curves, the convergence rule, and the runs still improving."""
    c = summ.convergence
    if c.empty:
        return None
    flagged = c[c["still_improving"].eq(True)]
    n_runs, n_judged = len(c), int(c["judged"].sum())
    sec = Section("training-curves", "Training curves").add(
        _note(
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
    df = P.convergence_table(flagged)
    if not df.empty:
        sec.add(frame_table(df, "convergence", "Runs still improving at their last epoch"))
    return sec


def _tradeoff_section(summ: Summaries, figs: Mapping, lambda_rule: Mapping | None) -> Section | None:
    """The λ trade-off figure, the λ rule as the config states it, and the λ it picks per method."""
    if summ.lam.empty:
        return None
    choice = summ.lam_choice
    worst = summ.lam[summ.lam["metric"] == WORST]
    suites = "; ".join(
        f"{dataset_label(d)}, ε={P.fmt_eps(e)}: {s.replace(',', ', ')}"
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
    sec = Section("tradeoff", "λ trade-off").add(_note(*parts))
    if figs.get("tradeoff"):
        sec.add(
            Figure(
                figs["tradeoff"],
                "Clean accuracy against the worst case at each ε over the λ sweep.",
                "clean accuracy against worst case over the lambda sweep",
            )
        )
    if len(choice):
        df = P.lam_choice_table(choice)
        sec.add(
            frame_table(
                df, "lambda-choice", "The λ the rule picks per method", wrap={"Baseline clean (%)": 16}
            )
        )
    return sec


def _cost_section(res: Results, summ: Summaries, benchmark: dict | None) -> Section:
    sec = Section("cost", "Cost")
    if not benchmark:
        sec.add(_para("No benchmark (results/benchmark/cost.json) was run."))
    else:
        steps = Section("cost-steps", "Time per training step").add(
            _note(
                "One table per architecture and device. Every round times one step of each method and estimator "
                "in turn, each with its own fresh model and optimiser, on the same batch; “× standard” is the "
                "median over the timed rounds of (its step / the standard step of the same round), “IQR” that "
                "ratio's interquartile range over the rounds, warm-up rounds excluded. Goal: the ratio the spec "
                "expects (a double-backward costs about two forward+backward passes; PGD-K training about K+1; "
                "the exact estimator C× the projection estimator's step). Tables from a committed reference file "
                "were measured elsewhere by benchmarks/bench_methods.py and say so."
            )
        )
        for i, (meta, df) in enumerate(P.cost_tables(benchmark), start=1):
            title = (
                f"Step cost: {meta['arch']}, {meta['device']}, {meta['threads']} thread(s), batch {meta['batch']}"
                f" ({meta['source']})"
            )
            steps.add(frame_table(df, f"cost-{i}", title, right=_numeric(df, 2)))
        sec.children.append(steps)
        noise = P.noise_table(benchmark)
        if not noise.empty:
            noise = noise.rename(
                columns={
                    "sd / exact, one draw": "sd / exact,\none draw",
                    "var / exact²": "var /\nexact²",
                    "Draws (n)": "Draws\n(n)",
                }
            )
            t = frame_table(
                noise,
                "cost-noise",
                "Noise of one draw of each random estimator",
                wrap={"Device": 14, "Source": 14, "Architecture": 12},
                right=list(noise.columns[3:7]),
            )
            sec.children.append(
                Section("cost-noise", "Noise of one estimator draw").add(
                    _note(
                        "What the cheaper step costs in noise: the standard deviation of one draw (one probe) of "
                        "each random estimator of SAGR's decoupled penalty, relative to the exact value, over n "
                        "draws on a fresh model; median [interquartile range] over the batch's examples. "
                        "Projection: Rademacher probes in output space, one double backward each; JVP: Rademacher "
                        "probes in input space, forward-mode derivative in the same pass as the logits. Both are "
                        "unbiased; their noise differs."
                    ),
                    *split_columns(t, keep=3),
                )
            )
    est = _estimator_section(res, summ)
    if est is not None:
        sec.children.append(est)
    return sec


def _estimator_section(res: Results, summ: Summaries) -> Section | None:
    check = summ.estimators
    if check.empty:
        return None
    sec = Section("cost-estimator", "Choice of the default estimator")
    base = estimator_label(check["base"].iloc[0])
    sec.add(
        _note(
            "The rule: the default is the fastest estimator (step tables above) whose worst case at every ε lies "
            f"inside the {100 * LEVEL:g} % Clopper–Pearson interval of the {base} estimator's, from the ablation's "
            "estimator sweep (the seeds all its estimators have; at each ε each run's own worst case where all "
            "of them ran the same attacks, else the worst case over the attacks all of them ran; on the points "
            "all of them evaluated)."
        )
    )
    for (dataset, method), g in check.groupby(["dataset", "method"], sort=False):
        default = g["default"].iloc[0]
        parts: list[str | Span] = [
            Span(f"{dataset_label(dataset)}, {method_label(method)}", "b"),
            ": the config's default estimator is ",
            Span(estimator_label(default) if default else "not stated by its runs", "b"),
            ".",
        ]
        eps_all = ", ".join(P.fmt_eps(e) for e in sorted(g["eps"].unique()))
        for estimator, h in g[g["estimator"] != g["base"]].groupby("estimator", sort=False):
            outside = [
                P.fmt_eps(e) for e, w in zip(h["eps"], h["within"], strict=True) if not pd.isna(w) and not w
            ]
            parts.append(f" {estimator_label(estimator)}: ")
            if outside:
                parts += [Span("outside", "fail"), f" the {base} interval at ε = {', '.join(outside)}."]
            else:
                parts.append(f"inside the {base} interval at every ε ({eps_all}).")
        df = _one_dataset(P.estimator_table(g, res.datasets()), res)
        inside = [c for c in df.columns if c.startswith("Inside")]
        t = frame_table(
            df,
            f"estimators-{dataset}-{method}",
            f"Estimators of {method_label(method)}, {dataset_label(dataset)}",
            wrap={c: 12 for c in inside},
            right=["ε", "n", "Seeds"],
        )
        sec.add(_para(*parts), t)
    return sec


def _failed_section(res: Results) -> Section:
    sec = Section("failed", "Failed runs")
    failed = P.failed_runs_table(res)
    if failed.empty:
        return sec.add(_para("No run diverged."))
    return sec.add(
        _para(
            Span(f"{len(failed)} run(s) diverged in training", "fail"),
            "; they are listed here with the reason and get no robustness or saliency numbers anywhere in this report.",
        ),
        frame_table(
            _one_dataset(failed, res),
            "failed",
            "Runs that diverged in training",
            wrap={"Run": 24, "Reason": 36},
        ),
    )


def _departures_section(departures: Sequence[str]) -> Section:
    sec = Section("departures", "Departures from the spec")
    if not departures:
        return sec.add(_para("None recorded."))
    return sec.add(Bullets([spans(d) for d in departures]))


def _attacks_appendix(res: Results, summ: Summaries) -> Section:
    sec = Section("attacks", "Accuracy under each attack").add(
        _note(
            "Every attack of the suite on its own, per dataset: cells as in the headline table; a column head "
            "states the attack, its ε and n (“subset”: the first n points only; “cascade”: the points cheaper "
            "attacks left robust)."
        )
    )
    summary = summ.robustness
    for dataset in res.datasets():
        if summary[summary["dataset"] == dataset].empty:
            continue
        failures = P.masking_failures(res, dataset)
        df = _flat(P.main_table(summary, dataset, res.suite(), flagged=failures))
        t = frame_table(
            df,
            f"attacks-{dataset}",
            f"{dataset_label(dataset)}: accuracy (%) under each attack",
            style=_style_flag,
            right=_numeric(df),
        )
        sec.add(*split_columns(t))
    return sec


def _masking_appendix(res: Results) -> Section | None:
    m = res.masking
    if m.empty:
        return None
    sec = Section("masking-all", "Every gradient-masking check", fold=True).add(
        _note(
            "Every model's checks with their evidence: the paired test's p-value and level, the points it used, "
            "and what was compared."
        )
    )
    for dataset in [d for d in res.datasets() if d in set(m["dataset"])]:
        df = P.masking_table(res, dataset).drop(columns="Dataset")
        sec.add(
            frame_table(
                df,
                f"masking-{dataset}",
                f"{dataset_label(dataset)}: every masking check of every model",
                style=_style_status,
                wrap={"Run": 16, "Check": 18, "Detail": 28},
                right=["p", "α", "n"],
                long=True,
            )
        )
    return sec


def _setup_appendix(res: Results) -> Section:
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
        _para(
            "Evaluation subset: ",
            "; ".join(f"{d} n = {', '.join(map(str, n))}" for d, n in sizes.items()),
            " (a fixed, seeded subset of the test set, the same for every model).",
        ),
        *[_note(t) for t in texts],
    )
    setup = P.attack_setup_table(res)
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


def _training_appendix(res: Results) -> Section:
    df = _one_dataset(P.training_table(res), res).rename(
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


def _provenance_appendix(res: Results, config: Mapping, benchmark: dict | None) -> Section:
    jobs = res.jobs
    if benchmark and benchmark.get("provenance"):
        row = provenance_row({"dataset": "", "run": "benchmark"}, "cost.json", benchmark["provenance"])
        jobs = pd.concat([jobs, pd.DataFrame([row])], ignore_index=True)
    dirty = bool(jobs["git_dirty"].fillna(False).astype(bool).any()) if not jobs.empty else False
    sec = Section("provenance", "Provenance").add(
        _para(
            "Git commit(s): ",
            Span(", ".join(map(str, P.distinct(jobs, "git_commit"))) or "unknown", "code"),
            Span(" — some jobs ran on a tree with uncommitted changes", "warn") if dirty else None,
            f"; device(s): {', '.join(map(str, P.distinct(jobs, 'device')))}; "
            f"host(s): {', '.join(map(str, P.distinct(jobs, 'host')))}. Every number of this report is in the CSV "
            "tables under results/summary/, one row per record, each with its run, seed and job provenance.",
        ),
        frame_table(P.versions_table(jobs), "versions", "Library versions", wrap={"Version(s)": 60}),
        frame_table(
            P.jobs_summary(jobs),
            "jobs",
            "Wall time per job kind",
            wrap={"Device": 40},
            right=["Jobs", "Total (s)", "Mean (s)", "Max (s)"],
        ),
    )
    # Snakemake hands over its own mapping types: plain dicts for YAML.
    text = yaml.safe_dump(plain(config, "config"), sort_keys=False, allow_unicode=True, width=100)
    sec.children.append(Section("config", "Configuration", [Code(text)], fold=True))
    return sec


def build_document(
    res: Results,
    summ: Summaries,
    figs: Mapping,
    *,
    config: Mapping,
    benchmark: dict | None = None,
    departures: Sequence[str] = (),
    date: str | None = None,
) -> Document:
    """The report's content, once: both renderings lay out this document."""
    jobs = res.jobs
    # abbreviated as git does (the full hashes are in the provenance appendix): one line of header
    commits = ", ".join(str(c)[:12] for c in P.distinct(jobs, "git_commit")) or "unknown"
    dirty = bool(jobs["git_dirty"].fillna(False).astype(bool).any()) if not jobs.empty else False
    meta = spans(
        f"Rendered {date or dt.date.today().isoformat()} · commit ",
        Span(commits, "code"),
        Span(" (uncommitted changes)", "warn") if dirty else None,
        " · what each method, attack, metric and check computes: ",
        Span("docs/method.md", href="../docs/method.md"),
    )
    body = [
        _howto_section(res),
        _curves_section(figs),
        _claims_detail_section(summ),
        V.readings_section(summ.readings),
        _paired_section(res, summ),
        _masking_section(res),
        _saliency_section(res, summ, figs),
        _ablation_section(res, summ, figs),
        _training_curves_section(summ, figs),
        _tradeoff_section(summ, figs, (config.get("ablation") or {}).get("lambda_rule")),
        _cost_section(res, summ, benchmark),
        _failed_section(res),
        _departures_section(departures),
    ]
    appendix = [
        _attacks_appendix(res, summ),
        _masking_appendix(res),
        _setup_appendix(res),
        _training_appendix(res),
        _provenance_appendix(res, config, benchmark),
    ]
    return Document(
        title=TITLE,
        citation=PAPER,
        meta=meta,
        lede=_lede(res),
        front=[
            s
            for s in (
                _verdicts_section(res, summ),
                _headline_section(res, summ),
                V.matrix_section(summ.claims, summ.readings, res.datasets(), summ.smallest_effect),
                _floors_section(res, summ, config),
            )
            if s is not None
        ],
        sections=[s for s in body if s is not None],
        appendix=[s for s in appendix if s is not None],
    ).number()


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
    # `latex` marks ready-made LaTeX; the document's blocks have their own LaTeX layout.
    tex.filters["tex"] = lambda v: latex.Latex(latex.latex_escape(v))
    tex.filters["latex"] = latex.as_latex
    tex.filters["spans"] = latex.spans
    tex.filters["table"] = latex.table
    tex.filters["code"] = latex.code
    tex.filters["heading"] = latex.heading
    # On the page a newline inside a table cell or head is a line break.
    html.filters["lines"] = _html_lines
    html.filters["wrapping"] = lambda v: _html_lines(v, breaks=True)
    return html, tex


def _html_lines(value: Any, breaks: bool = False) -> Markup:
    """Escaped text, a newline as a line break; ``breaks`` lets long names (run names, file paths)
    wrap after an underscore or a slash, as the PDF's wrapping columns do (and as browsers wrap
    after a hyphen of their own accord)."""
    lines = [str(escape(line)) for line in str(value).split("\n")]
    if breaks:
        lines = [re.sub(r"([_/])", r"\1<wbr>", line) for line in lines]
    return Markup("<br>".join(lines))


def render_report(doc: Document, out_html: Path, out_tex: Path, fig_dir: Path) -> None:
    """Write index.html and report.tex, two layouts of one document; figures are already in fig_dir."""
    out_html, out_tex = Path(out_html), Path(out_tex)
    html_env, tex_env = _environments()
    out_html.parent.mkdir(parents=True, exist_ok=True)
    fig_html = Path(os.path.relpath(fig_dir, out_html.parent)).as_posix()
    out_html.write_text(html_env.get_template("index.html.j2").render(fig=fig_html, doc=doc))
    out_tex.parent.mkdir(parents=True, exist_ok=True)
    fig_tex = Path(os.path.relpath(fig_dir, out_tex.parent)).as_posix()
    out_tex.write_text(tex_env.get_template("report.tex.j2").render(fig=fig_tex, doc=doc))


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
    summ = summarize(
        res,
        (config.get("ablation") or {}).get("lambda_rule"),
        (config.get("claims") or {}).get("smallest_effect"),
    )
    bench = load_benchmark(benchmark) if benchmark else None
    if summary_dir is not None:
        extra = summ.tables()
        if bench:
            extra.update(cost=pd.DataFrame(bench["rows"]), cost_noise=pd.DataFrame(bench.get("noise", [])))
        write_tables(res, Path(summary_dir), extra)
    fig_dir = Path(fig_dir) if fig_dir is not None else Path(out_html).parent / "figures"
    figs = write_figures(res, summ, load_maps(res), fig_dir)
    doc = build_document(res, summ, figs, config=config, benchmark=bench, departures=departures, date=date)
    render_report(doc, out_html, out_tex, fig_dir)
