"""The reference AutoAttack (Croce & Hein's code) against the pipeline's own suite, point by point."""

from __future__ import annotations

from typing import Any

import pandas as pd

from sagr import stats
from sagr.document import (
    Paragraph,
    Section,
    Span,
    frame_table,
)
from sagr.labels import (
    dataset_label,
    method_label,
    method_rank,
)
from sagr.presentation import MISSING, fmt_eps, fmt_p, is_nan
from sagr.report.blocks import note, one_dataset, para
from sagr.results import Results

# The level of the reference-vs-torchattacks comparison where a result file does not state it
# (the evaluation's `sagr.robustness.table.REFERENCE_ALPHA`; not imported: presentation never loads torch).
REFERENCE_ALPHA = 0.05


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
    if is_nan(detectable):
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
    return REFERENCE_ALPHA if is_nan(alpha) else float(alpha)


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
        return MISSING if is_nan(v) else f"{100 * float(v):.1f}"

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
                MISSING if is_nan(k) or is_nan(m) or not m else f"{100 * k / m:.1f} ({int(k)}/{int(m)})"
                for k, m in zip(r["only_reference_broke"], r["prefix_n"], strict=True)
            ],
            "McNemar p": r["mcnemar_p"].map(fmt_p),
            "Verdict": [v for v, _ in readings],
            "Smallest detectable difference": [d for _, d in readings],
        }
    ).reset_index(drop=True)


def style_reference(column: str, value: Any) -> str:
    if column != "Verdict":
        return ""
    return "fail" if value == DIFFERS else "na" if str(value).startswith(TOO_FEW) else ""


def reference_section(res: Results) -> Section:
    sec = Section("reference", "Reference AutoAttack beside torchattacks'")
    df = reference_table(res)
    if df.empty:
        return sec.add(para("The reference AutoAttack (Croce & Hein) was not run in this configuration."))
    points = sorted(set(res.reference["ref_points"].dropna()) - {""})
    summary = reference_summary(df, reference_alpha(res.reference["alpha"].dropna().min()))
    return sec.add(
        Paragraph(summary),
        frame_table(
            one_dataset(df, res).rename(
                columns={
                    "torchattacks (%)": "torchattacks\n(%)",
                    "reference (%)": "reference\n(%)",
                    "Gap (pp of prefix)": "Gap (pp\nof prefix)",
                    "McNemar p": "McNemar\np",
                }
            ),
            "reference",
            "Reference AutoAttack and torchattacks' cascade on the same points, per model",
            style=style_reference,
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
        note(
            "Gap: the points only the reference broke, as percentage points of the prefix it was given (the "
            "amount by which it lowers the worst case there). Smallest detectable difference: the smallest "
            "difference in accuracy an exact McNemar test on n "
            "points could declare at all (every discordant point on one side); with fewer points than the test "
            "needs, no difference of any size could be detected."
            + (f" Points: {'; '.join(points)}." if points else "")
        ),
    )
