"""Page 1's answer to a reviewer: every claim's verdict per dataset and across SAGR's readings.

One row per claim; one column per dataset (the configured reading: `sagr.claims`), and per dataset
with readings (`sagr.readings`) one column that says how the readings' verdicts fall for C2, C3 and
C4. Each cell carries its deciding comparison's effect, interval and n × seeds; the comparison itself
is in the verdicts table below the matrix and in "The claims in detail"."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from sagr.claims import CONTRADICTED, NOT_TESTED, SUPPORTED, VERDICTS
from sagr.document import (
    Paragraph,
    Section,
    frame_table,
    spans,
)
from sagr.labels import (
    dataset_label,
)
from sagr.presentation import MISSING, fmt_difference, is_nan, scale_of
from sagr.report.claims import BELOW_MARGIN, below_margin, deciding_comparison

READING_CLAIMS = ("C2", "C3", "C4")


def _cell(g: pd.DataFrame) -> str:
    """'verdict' and, on a second line, the deciding comparison's effect [interval] (n × seeds)."""
    r, _ = deciding_comparison(g)
    v = g["verdict"].iloc[0]
    if r is None or is_nan(r["estimate"]):
        return v
    scale, digits, unit = scale_of(r["kind"])
    effect = fmt_difference(r["estimate"], r["low"], r["high"], scale, digits) + unit
    masked = f"\nmasking suspected in {r['masked']}" if r.get("masked") else ""
    small = f"\n{BELOW_MARGIN}" if below_margin(r) else ""
    return f"{v}\n{effect} ({int(r['n'])} × {int(r['seeds'])}){small}{masked}"


def _readings_cell(rd: pd.DataFrame) -> str:
    """How the readings' verdicts on one claim fall, e.g. '4 contradicted, 1 inconclusive', and the
    readings that would reverse a negative verdict (those that support the claim)."""
    per = rd.groupby("reading", sort=False)["verdict"].first()
    per = per[per != NOT_TESTED]  # not tested (e.g. β = 0 for C4) is not a reading of the claim
    if per.empty:
        return MISSING
    counts = per.value_counts()
    text = ", ".join(f"{int(counts[v])} {v}" for v in VERDICTS if v in counts)
    support = list(per[per == SUPPORTED].index)
    return f"{text} of {len(per)}" + (f"\nsupported by: {'; '.join(support)}" if support else "")


def verdict_matrix(claims: pd.DataFrame, readings: pd.DataFrame, datasets: list[str]) -> pd.DataFrame:
    """Rows = claims (with their statements), columns = datasets, then 'across readings' per dataset
    that has SAGR's readings; a cell = verdict + the deciding effect [interval] (n × seeds)."""
    rows = []
    for cid, g in claims.groupby("claim", sort=False):
        row = {"Claim": f"{cid}. {g['statement'].iloc[0]}"}
        for d in datasets:
            gd = g[g["dataset"] == d]
            row[dataset_label(d)] = _cell(gd) if len(gd) else MISSING
        for d in datasets:
            if readings.empty or d not in set(readings["dataset"]):
                continue
            rd = readings[(readings["dataset"] == d) & (readings["claim"] == cid)]
            row[f"{dataset_label(d)}, across SAGR's readings"] = (
                _readings_cell(rd) if cid in READING_CLAIMS and len(rd) else MISSING
            )
        rows.append(row)
    return pd.DataFrame(rows)


def readings_table(readings: pd.DataFrame) -> pd.DataFrame:
    """Rows = dataset × reading, columns = C2, C3, C4: the verdict and its deciding effect."""
    rows = []
    for (dataset, reading), g in readings.groupby(["dataset", "reading"], sort=False):
        row = {"Dataset": dataset_label(dataset), "Reading": reading}
        for cid in READING_CLAIMS:
            gc = g[g["claim"] == cid]
            row[cid] = _cell(gc) if len(gc) else MISSING
        rows.append(row)
    return pd.DataFrame(rows)


def readings_answer(readings: pd.DataFrame) -> str:
    """One sentence: does any reading reverse the configured reading's verdict on C2, C3 or C4?"""
    if readings.empty:
        return "No reading of SAGR other than the configured one was run."
    parts = []
    for cid in READING_CLAIMS:
        rd = readings[readings["claim"] == cid]
        per = rd.groupby(["dataset", "reading"], sort=False)["verdict"].first()
        tested = per[per != NOT_TESTED]
        if tested.empty:
            parts.append(f"{cid}: no reading tested")
            continue
        small = {
            key
            for key, g in rd.groupby(["dataset", "reading"], sort=False)
            if below_margin(deciding_comparison(g)[0])
        }
        support = [
            f"{r} ({dataset_label(d)}{', ' + BELOW_MARGIN if (d, r) in small else ''})"
            for (d, r), v in tested.items()
            if v == SUPPORTED
        ]
        against = int((tested == CONTRADICTED).sum())
        if support:
            parts.append(
                f"{cid}: supported by {', '.join(support)}; contradicted by {against} of {len(tested)}"
            )
        else:
            parts.append(f"{cid}: no reading supports it ({against} of {len(tested)} contradict it)")
    n = readings.groupby(["dataset", "reading"]).ngroups
    return f"Across {n} reading(s) of SAGR — " + "; ".join(parts) + "."


def style_cell(column: str, value: object) -> str:
    """A cell that starts with a verdict takes its colour (supported ok, contradicted fail)."""
    if not isinstance(value, str):
        return ""
    head = value.split("\n", 1)[0]
    return {SUPPORTED: "ok", CONTRADICTED: "fail"}.get(head, "na" if head in VERDICTS else "")


def margins_note(smallest_effect: Mapping | None) -> Paragraph:
    """The verdicts' vocabulary and the smallest effect of interest behind "equivalent"."""
    parts = [
        "Verdicts: supported, contradicted (an interval entirely on the predicted or the wrong side of 0), "
        "equivalent (two one-sided tests put the effect inside ± the smallest effect of interest), "
        "inconclusive, uninformative (at the floor), not tested. A supported or contradicted effect whose "
        f"interval also lies inside ± the smallest effect of interest is marked “{BELOW_MARGIN}”: its "
        "sign is shown, its size is below what the claim would need to be worth making."
    ]
    units = {"accuracy": (100.0, " pp of worst-case accuracy"), "saliency": (1.0, " Gini")}
    for kind, spec in (smallest_effect or {}).items():
        scale, unit = units.get(kind, (1.0, f" ({kind})"))
        parts.append(f" Smallest effect of interest: {scale * spec['value']:g}{unit} ({spec['reason']}).")
    if not smallest_effect:
        parts.append(" No smallest effect of interest is configured: no verdict can be “equivalent”.")
    return Paragraph(spans(*parts), note=True)


def matrix_section(
    claims: pd.DataFrame, readings: pd.DataFrame, datasets: list[str], smallest_effect: Mapping | None
) -> Section | None:
    """Page 1's matrix (after the verdicts and the headline table, which must fit the first screen)
    with the verdicts' vocabulary and the smallest effects of interest."""
    if claims.empty:
        return None
    df = verdict_matrix(claims, readings, datasets)
    table = frame_table(
        df,
        "verdict-matrix",
        "Verdict matrix: each claim per dataset (configured reading) and across SAGR's readings",
        style=style_cell,
        wrap={c: (34 if c == "Claim" else 22) for c in df.columns},
    )
    return Section("verdict-matrix", "Verdict matrix: every dataset and every reading").add(
        table,
        Paragraph(
            spans(
                "Each cell: the verdict, then its deciding comparison's effect A − B [interval at the claim's "
                "level] (points × seeds); the comparison is named in the table below and every one is in "
                "“The claims in detail”; each reading's verdicts in “SAGR's readings”."
            ),
            note=True,
        ),
        margins_note(smallest_effect),
    )


def readings_section(readings: pd.DataFrame) -> Section | None:
    """Reading → its verdicts on C2, C3, C4, with the sentence that answers the reviewer."""
    if readings.empty:
        return None
    df = readings_table(readings)
    if df["Dataset"].nunique() == 1:
        df = df.drop(columns="Dataset")
    sec = Section("readings", "SAGR's readings: does any reverse C2, C3 or C4?")
    return sec.add(
        Paragraph(spans(readings_answer(readings))),
        frame_table(
            df,
            "readings",
            "Each reading of SAGR held to C2, C3 and C4 (against JR's λ curve at its own clean accuracy; "
            "C4 against β = 0, or IGR's curve for the coupled form)",
            style=style_cell,
            wrap={"Reading": 22, "C2": 24, "C3": 24, "C4": 24},
        ),
        Paragraph(
            spans(
                "One factor at a time around the configured reading (form, β, T): the paper leaves all three "
                "open, and a reading that reverses a verdict shows up as a change in one row. A reading is "
                "held to JR's λ curve interpolated seed by seed at its own clean accuracy, so a reading that "
                "only moves along the trade-off is not counted as more robust."
            ),
            note=True,
        ),
    )
