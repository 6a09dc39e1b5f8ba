"""Presentation: number formats for display (labels, n on every cell) shared by the report's sections and figures.

Conventions, stated once in the report's "How to read": an accuracy cell reads
``mean ± sd [low, high]`` in %: sd is the seed-to-seed spread (no ± with one seed), [low, high]
the 95 % Clopper–Pearson interval of point sampling on n points; n stands in the column header
when the whole column shares it, else in the cell. A difference reads ``+d [low, high]``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd

FLAG = "⚠"  # next to a method whose models failed a gradient-masking check


MISSING = "–"


PGD_ONLY = "no APGD"  # a worst case that no APGD-strength attack entered


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


def is_nan(v: object) -> bool:
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
    if is_nan(mean):
        return MISSING
    text = fmt_number(scale * mean, digits)
    if seeds > 1 and not is_nan(sd):
        text += f" ± {scale * sd:.{digits}f}"
    if not is_nan(low) and not is_nan(high):
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
    if is_nan(estimate):
        return MISSING
    return (
        f"{fmt_signed(scale * estimate, digits)} "
        f"[{fmt_signed(scale * low, digits)}, {fmt_signed(scale * high, digits)}]"
    )


def fmt_n(values: Iterable[int]) -> str:
    """'n=400', or 'n=64–400' when the values differ."""
    vals = sorted({int(v) for v in values if not is_nan(v)})
    if not vals:
        return "n=?"
    return f"n={vals[0]}" if len(vals) == 1 else f"n={vals[0]}–{vals[-1]}"


def column_cells(rows: pd.DataFrame, cell: callable) -> tuple[str, dict]:
    """The n of a column (for its header) and its cells, each with its own n if they differ."""
    own = rows["n"].nunique() > 1 or (rows["n"] != rows["n_max"]).any()
    cells = {r.method: cell(r) + (f" ({fmt_n([r.n, r.n_max])})" if own else "") for r in rows.itertuples()}
    return fmt_n(list(rows["n"]) + list(rows["n_max"])), cells


def scale_of(kind: str) -> tuple[float, int, str]:
    """How a comparison's numbers are shown: accuracy in percentage points, saliency as is."""
    return (100.0, 1, " pp") if kind == "accuracy" else (1.0, 3, "")


def fmt_sight(r: object, scale: float, digits: int) -> str:
    """What a claim's comparison could see (`sagr.claims`): at the floor or without its premise it
    did not decide; left undecided, its minimum detectable effect and the points or seeds that would
    decide its observed effect (a decided or undecidable one adds nothing)."""
    role = getattr(r, "role", "")
    if role == "at the floor":
        return f" — at the floor ({scale * r.mean_a:.{digits}f} vs {scale * r.mean_b:.{digits}f}), not used"
    if role == "premise not shown":
        return " — premise not shown at this ε, not used"
    if is_nan(getattr(r, "mde", float("nan"))) or r.low > 0 or r.high < 0:
        return ""
    unit = " pts" if scale == 100.0 else ""
    counts = {"points": r.n_needed, "seeds": r.seeds_needed}
    known = {k: v for k, v in counts.items() if not is_nan(v)}
    finite = [f"{int(v):,} {k}" for k, v in known.items() if not math.isinf(v)]
    effect = f"{fmt_signed(scale * r.estimate, digits)}{unit}"
    if finite:
        decide = f"; {' or '.join(finite)} would decide {effect}"
    elif known:
        decide = f"; no number of {' or of '.join(known)} alone would decide {effect}"
    else:
        decide = ""
    return f" — MDE {scale * r.mde:.{digits}f}{unit} at {100 * r.power:.0f} % power{decide}"


def fmt_value(v: object) -> str:
    """A sweep value as text (numbers compactly)."""
    return f"{v:g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)


def fmt_p(v: object) -> str:
    return MISSING if is_nan(v) else f"{float(v):.3g}"


def distinct(df: pd.DataFrame, column: str) -> list:
    """Sorted distinct non-null values of a column (for the header and provenance lines)."""
    if df.empty or column not in df:
        return []
    return sorted(df[column].dropna().unique().tolist(), key=str)
