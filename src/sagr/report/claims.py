"""The claims: page 1's verdicts table (each claim's deciding comparison) and the claims in detail."""

from __future__ import annotations

import pandas as pd

from sagr.claims import CONTRADICTED, DECIDES, EQUIVALENT, SUPPORTED
from sagr.document import (
    Section,
    frame_table,
)
from sagr.labels import (
    dataset_label,
)
from sagr.presentation import MISSING, fmt_difference, fmt_number, fmt_sight, is_nan, scale_of
from sagr.report.aggregate import Summaries
from sagr.report.blocks import note, para, style_verdict
from sagr.results import Results
from sagr.stats import POWER


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


BELOW_MARGIN = "smaller than the smallest effect of interest"


def below_margin(r: pd.Series | None) -> bool:
    """A supported or contradicted claim whose deciding effect is also inside ± the smallest effect of
    interest (TOST at the claim's level): the sign is real, the size too small to matter by the
    config's own standard. The verdict keeps its sign; the table and the matrix say this beside it."""
    return r is not None and r["verdict"] in (SUPPORTED, CONTRADICTED) and bool(r.get("equivalent", False))


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
            scale, digits, unit = scale_of(r["kind"])
            label = r["comparison"].replace(", worst case ", " ")  # the statement says it is the worst case
            notes = [among] if among else []
            notes += ["premise"] if r["premise"] else []
            notes += [r["role"]] if r["role"] not in (DECIDES, "") else []
            notes += ["masking suspected"] if r.get("masked") else []
            notes += [BELOW_MARGIN] if below_margin(r) else []
            row["Deciding comparison"] = label + (f" ({'; '.join(notes)})" if notes else "")
            row["Effect [interval]"] = (
                fmt_difference(r["estimate"], r["low"], r["high"], scale, digits) + unit
            )
            row["MDE"] = MISSING if is_nan(r["mde"]) else f"{fmt_number(scale * r['mde'], digits)}{unit}"
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
            scale, digits, _ = scale_of(r.kind)
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


def verdicts_section(res: Results, summ: Summaries) -> Section:
    sec = Section("claims", "Verdicts on the paper's claims")
    if summ.claims.empty:
        return sec.add(para("No claim could be evaluated: the runs the comparisons need are missing."))
    df = verdicts_table(summ.claims, res.datasets())
    # the claim's words get the room the numbers leave; the numbers never wrap
    wrap = {"Claim": 40, "Verdict": 13, "Deciding comparison": 26}
    if "Dataset" in df:  # a claim's rows, one per dataset, share its statement: it gets the room
        wrap = {"Claim": 36, "Verdict": 12, "Deciding comparison": 18}
    t = frame_table(
        df,
        "claims",
        "The paper's claims: each verdict with the comparison A − B that decides it",
        style=style_verdict,
        wrap=wrap,
        right=["MDE", "n × seeds"],
    )
    return sec.add(
        t,
        note(
            "Shown: the weakest support, the strongest evidence against, or the undecided comparison with the "
            "largest MDE (the smallest difference it would detect with "
            f"{100 * POWER:g} % power); interval at the claim's Bonferroni level. All comparisons: “The claims "
            "in detail”."
        ),
    )


def claims_detail_section(summ: Summaries) -> Section | None:
    """Every claim with the metric that decides it and each comparison in full: its effect, interval,
    level, and what it could see (at the floor, its minimum detectable effect)."""
    if summ.claims.empty:
        return None
    df = claims_table(summ.claims)
    t = frame_table(
        df,
        "claims-detail",
        "Each claim, what decides it, and what each comparison could see",
        style=style_verdict,
        wrap={"Statement": 22, "Decided by": 22, "Effect [interval]": 40, "Verdict": 12},
        long=True,
    )
    return Section("claims-detail", "The claims in detail").add(
        note(
            "The verdicts of the first page with the metric that decides each claim and every comparison "
            "in full (rules in “How to read the numbers”)."
        ),
        t,
    )
