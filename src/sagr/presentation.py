"""Presentation: the summaries as display tables (labels, number formats, n on every cell).

Conventions, stated once in the report's "How to read": an accuracy cell reads
``mean ± sd [low, high]`` in %: sd is the seed-to-seed spread (no ± with one seed), [low, high]
the 95 % Clopper–Pearson interval of point sampling on n points; n stands in the column header
when the whole column shares it, else in the cell. A difference reads ``+d [low, high]``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable

import pandas as pd

from sagr import stats
from sagr.claims import CONTRADICTED, DECIDES, EQUIVALENT, SUPPORTED
from sagr.document import Span
from sagr.labels import (
    CLEAN,
    DEVICE_LABELS,
    NORM_LABELS,
    SALIENCY_METRICS,
    SPECIAL_ATTACKS,
    WORST,
    Suite,
    arch_label,
    attack_labels,
    attack_rank,
    check_rank,
    dataset_label,
    estimator_label,
    method_label,
    method_rank,
    metric_label,
    param_label,
    sorted_methods,
)
from sagr.results import Results

FLAG = "⚠"  # next to a method whose models failed a gradient-masking check
MISSING = "–"
PGD_ONLY = "no APGD"  # a worst case that no APGD-strength attack entered
# The level of the reference-vs-torchattacks comparison where a result file does not state it
# (the evaluation's `sagr.robustness.table.REFERENCE_ALPHA`; not imported: presentation never loads torch).
REFERENCE_ALPHA = 0.05


def fmt_eps(eps: float) -> str:
    """An ε budget as written in papers: 0.3, or 8/255 for CIFAR-like budgets."""
    if eps == 0:
        return "0"
    if abs(eps - round(eps, 3)) < 1e-9:  # a short decimal (0.1, 0.3, 1.5) stays decimal
        return f"{eps:g}"
    k = eps * 255
    if abs(k - round(k)) < 1e-6:
        return f"{round(k)}/255"
    return f"{eps:.3g}"


def _nan(v: object) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or bool(pd.isna(v))


def fmt_estimate(
    mean: float,
    sd: float,
    seeds: int,
    low: float,
    high: float,
    scale: float = 100.0,
    digits: int = 1,
) -> str:
    """'mean ± sd [low, high]': sd over seeds (dropped with one seed), 95 % sampling interval."""
    if _nan(mean):
        return MISSING
    text = fmt_number(scale * mean, digits)
    if seeds > 1 and not _nan(sd):
        text += f" ± {scale * sd:.{digits}f}"
    if not _nan(low) and not _nan(high):
        text += f" [{fmt_number(scale * low, digits)}, {fmt_number(scale * high, digits)}]"
    return text


MINUS = "\u2212"  # the minus sign: a hyphen before a number reads as a dash in print


def fmt_signed(value: float, digits: int = 1) -> str:
    """A number with an explicit sign, '+1.2' or '−1.2' (U+2212, typeset as $-$ in the PDF)."""
    return fmt_number(value, digits, "+")


def fmt_number(value: float, digits: int = 1, sign: str = "") -> str:
    """A number, negative ones with a minus sign (U+2212) rather than a hyphen; ``sign="+"`` adds
    an explicit plus to the others."""
    text = f"{value:{sign}.{digits}f}"
    return MINUS + text[1:] if text.startswith("-") else text


def fmt_difference(estimate: float, low: float, high: float, scale: float = 100.0, digits: int = 1) -> str:
    """'+d [low, high]' with an explicit sign on each number (minus signs, not hyphens)."""
    if _nan(estimate):
        return MISSING
    return (
        f"{fmt_signed(scale * estimate, digits)} "
        f"[{fmt_signed(scale * low, digits)}, {fmt_signed(scale * high, digits)}]"
    )


def fmt_n(values: Iterable[int]) -> str:
    """'n=400', or 'n=64–400' when the values differ."""
    vals = sorted({int(v) for v in values if not _nan(v)})
    if not vals:
        return "n=?"
    return f"n={vals[0]}" if len(vals) == 1 else f"n={vals[0]}–{vals[-1]}"


def _column_cells(rows: pd.DataFrame, cell: callable) -> tuple[str, dict]:
    """The n of a column (for its header) and its cells, each with its own n if they differ."""
    own = rows["n"].nunique() > 1 or (rows["n"] != rows["n_max"]).any()
    cells = {r.method: cell(r) + (f" ({fmt_n([r.n, r.n_max])})" if own else "") for r in rows.itertuples()}
    return fmt_n(list(rows["n"]) + list(rows["n_max"])), cells


def main_table(
    summary: pd.DataFrame, dataset: str, suite: Suite, flagged: Iterable[str] = ()
) -> pd.DataFrame:
    """Rows = methods; columns = (attack, 'ε=… · n=…'); cells 'mean ± sd [low, high]' in %.

    ``suite`` (attack name -> kind, role) gives the attacks' labels and order (`sagr.labels`).

    Columns whose numbers were measured on fewer points than the evaluation set say so
    ("subset" for a prefix subset, "cascade" for points left robust by cheaper attacks), and a
    worst case without an APGD-strength attack says "no APGD".
    """
    s = summary[summary["dataset"] == dataset]
    labels, rank = attack_labels(suite), attack_rank(suite)
    s = s.assign(_rank=s["attack"].map(rank)).sort_values(["_rank", "norm", "eps"])
    flagged = set(flagged)
    columns, cells = [], {}
    for (attack, norm, eps), rows in s.groupby(["attack", "norm", "eps"], sort=False):
        n_text, col_cells = _column_cells(
            rows, lambda r: fmt_estimate(r.mean, r.sd, r.seeds, r.ci_low, r.ci_high)
        )
        points = set(",".join(rows["points"]).split(","))
        mark = " · cascade" if "cascade" in points else " · subset" if "subset" in points else ""
        if attack == WORST and (rows["apgd"] == False).any():  # noqa: E712 (NaN = not stated)
            mark += f" · {PGD_ONLY}"
        # two lines (the budget, then n and marks) keep the column as narrow as its cells
        sub = n_text + mark if attack == CLEAN else f"ε={fmt_eps(eps)}\n{n_text}{mark}"
        if norm == "l2":
            sub = f"L2 {sub}"
        col = (labels.get(attack, attack), sub)
        columns.append(col)
        cells.update({(m, col): v for m, v in col_cells.items()})
    methods = sorted_methods(s["method"])
    index = [method_label(m) + (f" {FLAG}" if m in flagged else "") for m in methods]
    data = [[cells.get((m, c), MISSING) for c in columns] for m in methods]
    return pd.DataFrame(
        data,
        index=pd.Index(index, name="Method"),
        columns=pd.MultiIndex.from_tuples(columns, names=["Attack", "ε"]),
    )


def headline_table(
    summary: pd.DataFrame, dataset: str, suite: Suite, flagged: Iterable[str] = ()
) -> pd.DataFrame:
    """The front page's table: rows = methods; clean accuracy and the L∞ worst case over every
    attack at each ε (`main_table`'s cells and column notes, the other attacks left out)."""
    s = summary[(summary["attack"] == CLEAN) | ((summary["attack"] == WORST) & (summary["norm"] == "linf"))]
    return main_table(s, dataset, suite, flagged)


def _scale(kind: str) -> tuple[float, int, str]:
    """How a comparison's numbers are shown: accuracy in percentage points, saliency as is."""
    return (100.0, 1, " pp") if kind == "accuracy" else (1.0, 3, "")


def deciding_comparison(g: pd.DataFrame) -> tuple[pd.Series | None, str]:
    """The one comparison of a claim (its rows on one dataset) that shows why the verdict is what it
    is, and how it stands among the others: (row, "weakest of 3"); (None, "") when none was run.

    supported: the deciding comparison whose interval comes closest to 0 (the weakest support);
    contradicted: the one furthest on the wrong side of 0; equivalent: the one closest to its margin
    (largest TOST p-value); inconclusive: of those whose interval
    is not on the predicted side, the one with the largest minimum detectable effect (the hardest
    to decide; a claim's own comparisons before its premises); uninformative: the first at the floor.
    """
    g = g[g["comparison"].astype(bool)]
    if g.empty:
        return None, ""
    sign = g["sign"].astype(float)
    bounds = pd.concat([sign * g["low"], sign * g["high"]], axis=1)
    # the interval's bound nearest 0 on the predicted side: > 0 where the interval is on that side
    near, far = bounds.min(axis=1), bounds.max(axis=1)
    deciding = g["role"] == DECIDES
    own = deciding & ~g["premise"].astype(bool)
    verdict = g["verdict"].iloc[0]
    k = int(own.sum())
    if verdict == SUPPORTED and own.any():
        return g.loc[near[own].idxmin()], f"weakest of {k}" if k > 1 else ""
    against = own & (far < 0)
    if verdict == CONTRADICTED and against.any():
        return g.loc[far[against].idxmin()], f"{int(against.sum())} of {k} against" if k > 1 else ""
    if verdict == EQUIVALENT and own.any() and "equivalence_p" in g:
        # the comparison closest to the margin: the largest TOST p-value (every one is below α)
        p = g.loc[own, "equivalence_p"].fillna(-1.0)
        return g.loc[p.idxmax()], f"closest to the margin of {k}" if k > 1 else ""
    open_ = deciding & ~(near > 0)
    if open_.any():
        pick = open_ & own if (open_ & own).any() else open_
        mde = g.loc[pick, "mde"].fillna(-1.0)
        return g.loc[mde.idxmax()], (
            f"{int((open_ & own).sum())} of {k} undecided" if k > 1 and (open_ & own).any() else ""
        )
    return g.iloc[0], f"{len(g)} comparisons" if len(g) > 1 else ""


def verdicts_table(claims: pd.DataFrame, datasets: list[str]) -> pd.DataFrame:
    """The first page's verdicts: one row per claim × dataset with its verdict and the one
    comparison that decides it (`deciding_comparison`): its effect A − B with the interval at the
    claim's level, its minimum detectable effect, and its points × seeds. Every comparison in full
    is in `claims_table`. The dataset column only when there are several datasets."""
    rows = []
    for (cid, dataset), g in claims.groupby(["claim", "dataset"], sort=False):
        r, among = deciding_comparison(g)
        first = not rows or rows[-1]["_claim"] != cid
        row = {"_claim": cid, "Claim": f"{cid}. {g['statement'].iloc[0]}" if first else ""}
        if len(datasets) > 1:
            row["Dataset"] = dataset_label(dataset)
        row["Verdict"] = g["verdict"].iloc[0]
        if r is None:
            row.update({"Deciding comparison": "runs missing", "Effect [interval]": MISSING})
            row.update({"MDE": MISSING, "n × seeds": MISSING})
        else:
            scale, digits, unit = _scale(r["kind"])
            label = r["comparison"].replace(", worst case ", " ")  # the statement says it is the worst case
            notes = [among] if among else []
            notes += ["premise"] if r["premise"] else []
            notes += [r["role"]] if r["role"] not in (DECIDES, "") else []
            notes += ["masking suspected"] if r.get("masked") else []
            row["Deciding comparison"] = label + (f" ({'; '.join(notes)})" if notes else "")
            row["Effect [interval]"] = (
                fmt_difference(r["estimate"], r["low"], r["high"], scale, digits) + unit
            )
            row["MDE"] = MISSING if _nan(r["mde"]) else f"{fmt_number(scale * r['mde'], digits)}{unit}"
            row["n × seeds"] = f"{int(r['n'])} × {int(r['seeds'])}"
        rows.append(row)
    df = pd.DataFrame(rows)
    if len(datasets) > 1:
        # a claim with no comparison on any dataset takes one row, not one per dataset
        missing = df.groupby("_claim", sort=False)["Deciding comparison"].transform(
            lambda c: (c == "runs missing").all()
        )
        df.loc[missing, "Dataset"] = "all"
        df = df[~(missing & df["_claim"].duplicated())]
    return df.drop(columns="_claim").reset_index(drop=True)


def masking_summary(res: Results, dataset: str) -> pd.DataFrame:
    """Rows = masking checks, columns = methods: how many of the method's models (ablation points
    included) passed, failed, or could not apply the check."""
    m = res.masking
    m = m[m["dataset"] == dataset]
    checks = sorted(m["check"].unique(), key=check_rank)
    methods = sorted_methods(m["method"])
    titles = m.drop_duplicates("check").set_index("check")["title"]
    rows = []
    for check in checks:
        row = {"Check": titles[check]}
        for method in methods:
            counts = m[(m["check"] == check) & (m["method"] == method)]["status"].value_counts()
            parts = [
                f"{counts[k]} {word}"
                for k, word in (("fail", "failed"), ("pass", "passed"), ("n.a.", "n.a."))
                if counts.get(k)
            ]
            row[method_label(method)] = "\n".join(parts) or MISSING
        rows.append(row)
    return pd.DataFrame(rows)


def masking_failed_table(res: Results) -> pd.DataFrame:
    """Every failed masking check in full: model, check, test statistics and the evidence."""
    return _masking_rows(res, res.masking[res.masking["status"] == "fail"])


def masking_failures(res: Results, dataset: str) -> dict[str, list[str]]:
    """Failed gradient-masking checks of the main runs per method, as 'seed s: title' lines."""
    m = res.masking
    if m.empty:
        return {}
    m = m[(m["dataset"] == dataset) & (m["status"] == "fail") & m["main"].astype(bool)]
    out: dict[str, list[str]] = {}
    for row in m.itertuples():
        out.setdefault(row.method, []).append(
            f"seed {row.seed}: {row.title}" + (f" ({row.detail})" if row.detail else "")
        )
    return out


def _p(v: object) -> str:
    return MISSING if _nan(v) else f"{float(v):.3g}"


def masking_table(res: Results, dataset: str) -> pd.DataFrame:
    """Every model's gradient-masking checks: result, paired-test p-value and α, n, details."""
    return _masking_rows(res, res.masking[res.masking["dataset"] == dataset])


def _masking_rows(res: Results, m: pd.DataFrame) -> pd.DataFrame:
    m = m.assign(
        _d=m["dataset"].map(res.datasets().index),
        _m=m["method"].map(method_rank),
        _c=m["check"].map(check_rank),
    )
    m = m.sort_values(["_d", "_m", "run", "_c"])
    return pd.DataFrame(
        {
            "Dataset": m["dataset"].map(dataset_label),
            "Method": m["method"].map(method_label),
            "Run": m["run"],
            "Check": m["title"],
            "Result": m["status"],
            "p": m["p_value"].map(_p),
            "α": m["alpha"].map(_p),
            "n": m["n_points"].map(lambda v: MISSING if _nan(v) else str(int(v))),
            "Detail": m["detail"].fillna(""),
        }
    ).reset_index(drop=True)


TOO_FEW = "too few points to tell"
DIFFERS = "differs"
NO_DIFFERENCE = "no difference seen"


def reference_reading(n: int, differs: bool, alpha: float) -> tuple[str, str]:
    """What one reference comparison on n points can say: (verdict, what it could have seen).

    A test that no outcome on n points could make significant says so instead of "no difference";
    otherwise the smallest difference it could have detected is stated beside its verdict.
    """
    detectable = stats.mcnemar_detectable(n, alpha)
    need = stats.mcnemar_min_discordant(alpha)
    if differs:
        return DIFFERS, f"detectable from {100 * detectable:.0f} pp"
    if _nan(detectable):
        return f"{TOO_FEW} (n = {n})", f"none: α = {alpha:g} needs ≥ {need} discordant points"
    return NO_DIFFERENCE, f"≥ {100 * detectable:.0f} pp (n = {n})"


def reference_summary(table: pd.DataFrame, alpha: float = REFERENCE_ALPHA) -> list[Span]:
    """One sentence on what the reference comparisons (`reference_table`'s rows) could tell.

    A comparison on too few points is counted as "could not tell", never as agreement: where every
    comparison had too few points the sentence says the check could not tell at all and states the
    smallest difference it could have detected (none: the test needs more discordant points than
    there were points), instead of reading as "no model differs".
    """
    verdicts = table["Verdict"].astype(str)
    too_few = verdicts.str.startswith(TOO_FEW)
    differ, same = verdicts == DIFFERS, verdicts == NO_DIFFERENCE
    need = stats.mcnemar_min_discordant(alpha)
    k = len(table)
    models = f"{k} model{'s' if k != 1 else ''}"
    ns = table.loc[too_few, "n"].astype(int)
    n_text = f"n = {ns.min()}" + ("" if ns.min() == ns.max() else f"–{ns.max()}") if len(ns) else ""
    test = f"an exact McNemar test at α = {alpha:g} needs ≥ {need} points where the two disagree"
    if too_few.all():
        return [
            Span(f"The reference check could not tell on any of the {models}", "warn"),
            Span(
                f": every comparison had too few points ({n_text}). The smallest difference it could have "
                f"detected: none, of any size ({test}, so at least {need} of its n points). It neither confirms "
                "nor questions torchattacks' cascade."
            ),
        ]
    parts: list[Span] = []
    if differ.any():
        parts.append(Span(f"{int(differ.sum())} differ{'s' if differ.sum() == 1 else ''}", "fail"))
    if same.any():
        smallest = table.loc[same, "Smallest detectable difference"].astype(str)
        parts.append(
            Span(
                f"{int(same.sum())} show{'s' if same.sum() == 1 else ''} no difference on enough points to see "
                f"one (smallest detectable difference per model in the table, e.g. {smallest.iloc[0]})"
            )
        )
    if too_few.any():
        parts.append(
            Span(
                f"on {int(too_few.sum())} it could not tell: too few points ({n_text}; {test}), so those neither "
                "confirm nor question torchattacks' cascade"
            )
        )
    out = [Span(f"{models} compared on the same points (exact McNemar test): ")]
    for i, part in enumerate(parts):
        out += [Span("; ")] if i else []
        out.append(part)
    return out + [Span(".")]


def reference_alpha(alpha: object) -> float:
    """The level a reference comparison was tested at (files written before it was stored: the default)."""
    return REFERENCE_ALPHA if _nan(alpha) else float(alpha)


def reference_table(res: Results) -> pd.DataFrame:
    """Per model: torchattacks' AutoAttack beside the reference on the same points, with what the
    comparison can tell on that many points (`reference_reading`)."""
    r = res.reference
    if r.empty:
        return r
    r = r.assign(_d=r["dataset"].map(res.datasets().index), _m=r["method"].map(method_rank))
    r = r.sort_values(["_d", "_m", "seed"])
    readings = [
        reference_reading(int(n), bool(d), reference_alpha(a))
        for n, d, a in zip(r["n"].fillna(0), r["differs"], r["alpha"], strict=True)
    ]

    def pct(v: object) -> str:
        return MISSING if _nan(v) else f"{100 * float(v):.1f}"

    return pd.DataFrame(
        {
            "Dataset": r["dataset"].map(dataset_label),
            "Method": r["method"].map(method_label),
            "Seed": r["seed"],
            "ε": r["eps"].map(fmt_eps),
            "n": r["n"].fillna(0).astype(int),
            "torchattacks (%)": r["torchattacks_accuracy"].map(pct),
            "reference (%)": r["accuracy"].map(pct),
            # what the reference lowers the worst case by on the points it was given (issue 16's ≤ 1 pp)
            "Gap (pp of prefix)": [
                MISSING if _nan(k) or _nan(m) or not m else f"{100 * k / m:.1f} ({int(k)}/{int(m)})"
                for k, m in zip(r["only_reference_broke"], r["prefix_n"], strict=True)
            ],
            "McNemar p": r["mcnemar_p"].map(_p),
            "Verdict": [v for v, _ in readings],
            "Smallest detectable difference": [d for _, d in readings],
        }
    ).reset_index(drop=True)


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


def _metric_column(metric: str, eps: float) -> str:
    if metric == CLEAN:
        return "Clean (pp)"
    if metric == WORST:
        return f"Worst case ε={fmt_eps(eps)} (pp)"
    return metric_label(metric)


def paired_table(diffs: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Rows = pairs 'A − B'; columns = clean, worst case per ε (percentage points), saliency."""
    d = diffs[diffs["dataset"] == dataset]
    rows: dict[str, dict[str, str]] = {}
    for r in d.itertuples():
        scale, digits, _ = _scale(r.quantity)
        col = _metric_column(r.metric, r.eps)
        rows.setdefault(f"{method_label(r.a)} − {method_label(r.b)}", {})[col] = (
            f"{fmt_difference(r.estimate, r.low, r.high, scale, digits)} "
            f"(n={r.n}, {r.seeds} seed{'s' if r.seeds != 1 else ''})"
        )
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("Pair").fillna(MISSING)


def claims_table(claims: pd.DataFrame) -> pd.DataFrame:
    """One row per claim × dataset: statement, deciding metric, verdict, effects with intervals.

    The statement and its metric are written on a claim's first row only.
    """
    rows = []
    seen = set()
    for (cid, dataset), g in claims.groupby(["claim", "dataset"], sort=False):
        effects = []
        for r in g.itertuples():
            if not r.comparison:
                continue
            scale, digits, _ = _scale(r.kind)
            effects.append(
                f"{r.comparison}: {fmt_difference(r.estimate, r.low, r.high, scale, digits)}"
                f" (n={r.n}, {r.seeds} seed{'s' if r.seeds != 1 else ''}"
                + (", premise" if r.premise else "")
                + ")"
                + fmt_sight(r, scale, digits)
            )
        level = g["level"].dropna()
        rows.append(
            {
                "Claim": cid,
                "Statement": "" if cid in seen else g["statement"].iloc[0],
                "Decided by": "" if cid in seen else g["decided_by"].iloc[0],
                "Dataset": dataset_label(dataset),
                "Verdict": g["verdict"].iloc[0],
                "Effect [interval]": "; ".join(effects) or MISSING,
                "Level": f"{100 * level.iloc[0]:.1f} %" if len(level) else MISSING,
            }
        )
        seen.add(cid)
    return pd.DataFrame(rows)


def fmt_sight(r: object, scale: float, digits: int) -> str:
    """What a claim's comparison could see (`sagr.claims`): at the floor or without its premise it
    did not decide; left undecided, its minimum detectable effect and the points or seeds that would
    decide its observed effect (a decided or undecidable one adds nothing)."""
    role = getattr(r, "role", "")
    if role == "at the floor":
        return f" — at the floor ({scale * r.mean_a:.{digits}f} vs {scale * r.mean_b:.{digits}f}), not used"
    if role == "premise not shown":
        return " — premise not shown at this ε, not used"
    if _nan(getattr(r, "mde", float("nan"))) or r.low > 0 or r.high < 0:
        return ""
    unit = " pts" if scale == 100.0 else ""
    counts = {"points": r.n_needed, "seeds": r.seeds_needed}
    known = {k: v for k, v in counts.items() if not _nan(v)}
    finite = [f"{int(v):,} {k}" for k, v in known.items() if not math.isinf(v)]
    effect = f"{fmt_signed(scale * r.estimate, digits)}{unit}"
    if finite:
        decide = f"; {' or '.join(finite)} would decide {effect}"
    elif known:
        decide = f"; no number of {' or of '.join(known)} alone would decide {effect}"
    else:
        decide = ""
    return f" — MDE {scale * r.mde:.{digits}f}{unit} at {100 * r.power:.0f} % power{decide}"


def saliency_table(sal: pd.DataFrame, datasets: list[str]) -> pd.DataFrame:
    """Rows = dataset × method; columns = metrics 'mean ± sd [low, high]', and the image count n."""
    if sal.empty:
        return pd.DataFrame()
    rows = []
    for (dataset, method), g in sal.groupby(["dataset", "method"], sort=False):
        row = {
            "Dataset": dataset_label(dataset),
            "Method": method_label(method),
            "_k": (datasets.index(dataset), method_rank(method)),
            "n (images)": fmt_n(g["n"]),
        }
        for r in g.itertuples():
            row[metric_label(r.metric)] = fmt_estimate(
                r.mean, r.sd, r.seeds, r.ci_low, r.ci_high, scale=1.0, digits=3
            )
        rows.append(row)
    df = pd.DataFrame(rows).sort_values("_k").drop(columns="_k")
    order = (
        ["Dataset", "Method"]
        + [metric_label(m) for m in SALIENCY_METRICS if metric_label(m) in df]
        + ["n (images)"]
    )
    return df[order].fillna("n.a.").reset_index(drop=True)


def _fmt_value(v: object) -> str:
    """A sweep value as text (numbers compactly)."""
    return f"{v:g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)


def ablation_table(summary: pd.DataFrame, param: str, datasets: list[str]) -> pd.DataFrame:
    """One sweep: rows = dataset × method × value; columns = clean, worst case (same suite), Gini;
    with n. The method column only where several methods sweep the parameter (λ)."""
    d = summary[summary["param"] == param]
    several = d["method"].nunique() > 1
    rows = []
    for (dataset, method, value), g in d.groupby(["dataset", "method", "value"], sort=False):
        row = {
            "Dataset": dataset_label(dataset),
            **({"Method": method_label(method)} if several else {}),
            param_label(param): _fmt_value(value),
            "_k": (datasets.index(dataset), method_rank(method), value if not isinstance(value, str) else 0),
        }
        for r in g.itertuples():
            if r.metric == "gini":
                col = f"{metric_label('gini')} · n={int(r.n)}"
                row[col] = fmt_estimate(r.mean, r.sd, r.seeds, r.ci_low, r.ci_high, 1.0, 3)
            else:
                eps = "" if r.metric == CLEAN else f" ε={fmt_eps(r.eps)}"
                col = f"{SPECIAL_ATTACKS[r.metric]}{eps} (%) · n={int(r.n)}"
                row[col] = fmt_estimate(r.mean, r.sd, r.seeds, r.ci_low, r.ci_high)
            row["Seeds"] = int(r.seeds)
        rows.append(row)
    df = pd.DataFrame(rows)
    return df.sort_values("_k").drop(columns="_k").fillna(MISSING).reset_index(drop=True)


def convergence_table(flags: pd.DataFrame) -> pd.DataFrame:
    """Runs (`sagr.convergence` rows) with each validation accuracy's last value and its change over
    the previous validated epoch, beside that value's sampling SE (percentage points)."""

    f = flags.assign(_m=flags["method"].map(method_rank)).sort_values(["dataset", "_m", "run"], kind="stable")

    def change(metric: str) -> list[str]:
        return [
            MISSING if _nan(d) else f"{100 * v:.1f} ({fmt_signed(100 * d)} vs SE {100 * se:.1f})"
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
            "n (validation)": f["val_n"].map(lambda v: MISSING if _nan(v) else f"{int(v)}"),
        }
    ).reset_index(drop=True)


def lam_choice_table(choice: pd.DataFrame) -> pd.DataFrame:
    """Per dataset × swept method: the configured λ, the λ the rule picks, whether they agree, and the
    clean accuracies the rule compared (`sagr.tradeoff.lam_choice`)."""
    c = choice.assign(_m=choice["method"].map(method_rank)).sort_values(["dataset", "_m"], kind="stable")
    return pd.DataFrame(
        {
            "Dataset": c["dataset"].map(dataset_label),
            "Method": c["method"].map(method_label),
            "λ configured": c["configured"].map(lambda v: MISSING if _nan(v) else f"{v:g}"),
            "λ by the rule": c["chosen"].map(lambda v: "none qualifies" if _nan(v) else f"{v:g}"),
            "Agrees": c["agrees"].map(lambda v: "yes" if v else "no"),
            "Clean at the rule’s λ (%)": c["clean_chosen"].map(
                lambda v: MISSING if _nan(v) else f"{100 * v:.2f}"
            ),
            "Baseline clean (%)": [
                f"{method_label(b)} {100 * r:.2f}" for b, r in zip(c["baseline"], c["reference"], strict=True)
            ],
            "Clean measured on": [
                f"{on}, n = {int(n)}" for on, n in zip(c["clean_points"], c["n_clean"], strict=True)
            ],
        }
    ).reset_index(drop=True)


def estimator_table(check: pd.DataFrame, datasets: list[str]) -> pd.DataFrame:
    """Rows = dataset × method × ε × estimator: worst case [interval], n, seeds, and whether it lies
    inside the base estimator's interval; the config's default estimator is marked."""
    if check.empty:
        return pd.DataFrame()
    c = check.assign(_d=check["dataset"].map(datasets.index), _m=check["method"].map(method_rank))
    c = c.sort_values(["_d", "_m", "eps"], kind="stable")
    return pd.DataFrame(
        {
            "Dataset": c["dataset"].map(dataset_label),
            "Method": c["method"].map(method_label),
            "ε": c["eps"].map(fmt_eps),
            "Estimator": [
                estimator_label(e) + (" (default)" if e == d else "")
                for e, d in zip(c["estimator"], c["default"], strict=True)
            ],
            "Worst case (%)": [
                fmt_estimate(r.mean, r.sd, r.seeds, r.ci_low, r.ci_high) for r in c.itertuples()
            ],
            "n": c["n"].astype(int),
            "Seeds": c["seeds"].astype(int),
            f"Inside the {estimator_label(c['base'].iloc[0])} interval": [
                MISSING if _nan(w) else ("yes" if w else f"no {FLAG}") for w in c["within"]
            ],
        }
    ).reset_index(drop=True)


# ---------------------------------------------------------------- cost, set-up, provenance


def _where(row: dict, benchmark: dict) -> dict:
    """What a cost row was measured on; rows of older cost.json files take the file's own."""
    prov = benchmark.get("provenance") or {}
    return {
        "arch": row.get("arch", benchmark.get("arch")),
        "device": row.get("device", benchmark.get("device_type")),
        "device_name": row.get("device_name", benchmark.get("device", prov.get("device"))),
        "threads": row.get("threads", benchmark.get("threads")),
        "reference": row.get("reference", ""),
        "commit": row.get("commit", prov.get("git_commit", "")),
        "commit_dirty": bool(row.get("commit_dirty", prov.get("git_dirty", False))),
    }


def source_label(where: dict) -> str:
    """Where a cost row comes from: this run's benchmark job, or a committed reference file."""
    if not where["reference"]:
        return "this run"
    dirty = " with uncommitted changes" if where["commit_dirty"] else ""
    return f"reference file {where['reference']} (measured at commit {str(where['commit'])[:8]}{dirty})"


def device_text(where: dict) -> str:
    """'GPU · cuda:NVIDIA H200': the device kind and the machine's own name for it."""
    kind = DEVICE_LABELS.get(where["device"], where["device"] or MISSING)
    return f"{kind} · {where['device_name']}" if where["device_name"] else kind


def _goal(goal: object) -> str:
    """A numeric goal is a bound on the ratio; a text goal (≈6, K+1) is shown as written."""
    if goal is None or _nan(goal):
        return MISSING
    return f"≤ {goal:g}" if isinstance(goal, (int, float)) else str(goal)


def cost_tables(benchmark: dict) -> list[tuple[dict, pd.DataFrame]]:
    """One step-cost table per (architecture, device, source), this run's first.

    Each comes with what it was measured on (labels: architecture, device, threads, batch size,
    source, and whether it is a committed reference) and lists every method and estimator
    variant: ms per step, the median ratio to a standard step of the same round, that ratio's
    interquartile range over rounds, the number of timed rounds and the goal.
    """
    goals = benchmark.get("goals") or {}
    groups: dict[tuple, list[dict]] = {}
    for r in benchmark.get("rows", []):
        where = _where(r, benchmark)
        key = tuple(where.values()) + (r.get("batch_size", benchmark.get("batch_size")),)
        groups.setdefault(key, []).append(r)
    out = []
    for key, rows in groups.items():
        where = _where(rows[0], benchmark)
        table = []
        for r in sorted(rows, key=lambda r: method_rank(r["method"])):  # stable: variants keep their order
            fallback = goals.get(r["method"] + (f"/{r['variant']}" if r.get("variant") else ""))
            iqr = r.get("ratio_iqr")
            table.append(
                {
                    "Method": method_label(r["method"]),
                    "Variant": r.get("variant") or MISSING,
                    "ms / step": f"{r['ms_per_step']:.1f}",
                    "× standard": f"{r['ratio_to_standard']:.2f}",
                    "IQR (×)": f"{iqr[0]:.2f}–{iqr[1]:.2f}" if iqr else MISSING,
                    "Rounds": r.get("n_steps", MISSING),
                    "Goal (×)": _goal(r.get("goal", fallback)),
                }
            )
        meta = {
            "arch": arch_label(where["arch"]) if where["arch"] else MISSING,
            "device": device_text(where),
            "threads": where["threads"] if where["threads"] is not None else MISSING,
            "batch": key[-1] if key[-1] is not None else MISSING,
            "source": source_label(where),
            "reference": bool(where["reference"]),
        }
        out.append((meta, pd.DataFrame(table)))
    return out


def noise_table(benchmark: dict) -> pd.DataFrame:
    """Per architecture, device and random estimator: the noise of one draw relative to exact.

    The standard deviation of a single draw (n_proj = 1) over ``draws`` draws, relative to the
    exact penalty, per example; median and interquartile range over the batch's examples.
    """
    rows = []
    for r in benchmark.get("noise", []):
        where = _where(r, benchmark)
        q1, q3 = r["rel_sd_per_draw_iqr"]
        rows.append(
            {
                "Architecture": arch_label(where["arch"]) if where["arch"] else MISSING,
                "Device": device_text(where),
                "Estimator": estimator_label(r["estimator"]),
                "sd / exact, one draw": f"{r['rel_sd_per_draw_median']:.3f} [{q1:.3f}, {q3:.3f}]",
                "var / exact²": f"{r['rel_var_per_draw_median']:.3f}",
                "Draws (n)": int(r["draws"]),
                "Examples": int(r["n_examples"]),
                # the step table of the same architecture and device names the file in full
                "Source": f"reference {where['reference'].rsplit('/', 1)[-1]}"
                if where["reference"]
                else "this run",
            }
        )
    return pd.DataFrame(rows)


def training_table(res: Results) -> pd.DataFrame:
    """Each run's training wall time, epochs, final loss, test accuracy and status."""
    tr = res.training.merge(res.runs[["dataset", "run", "status"]], on=["dataset", "run"])
    tr = tr.assign(_d=tr["dataset"].map(res.datasets().index), _m=tr["method"].map(method_rank))
    tr = tr.sort_values(["_d", "_m", "run"])
    per_epoch = tr["train_wall_time_s"] / tr["epochs"].where(tr["epochs"] > 0)

    def num(fmt: str) -> callable:
        return lambda v: MISSING if _nan(v) else fmt.format(v)

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


def distinct(df: pd.DataFrame, column: str) -> list:
    """Sorted distinct non-null values of a column (for the header and provenance lines)."""
    if df.empty or column not in df:
        return []
    return sorted(df[column].dropna().unique().tolist(), key=str)
