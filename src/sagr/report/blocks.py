"""Small building blocks every section uses: notes, paragraphs, per-dataset filters and cell styles."""

from __future__ import annotations

from typing import Any

import pandas as pd

from sagr import claims as C
from sagr.document import (
    Paragraph,
    Span,
    spans,
)
from sagr.presentation import FLAG
from sagr.results import Results


def flat(df: pd.DataFrame) -> pd.DataFrame:
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


def note(*parts: str | Span | None) -> Paragraph:
    return Paragraph(spans(*parts), note=True)


def para(*parts: str | Span | None) -> Paragraph:
    return Paragraph(spans(*parts))


def one_dataset(df: pd.DataFrame, res: Results, column: str = "Dataset") -> pd.DataFrame:
    """A table over datasets without its dataset column when the run has only one."""
    return df.drop(columns=column) if len(res.datasets()) == 1 and column in df else df


def style_flag(column: str, value: Any) -> str:
    """Red for a method label carrying the masking warning."""
    return "fail" if isinstance(value, str) and FLAG in value else ""


def style_status(column: str, value: Any) -> str:
    if column == "Result":
        return {"fail": "fail", "pass": "ok", "n.a.": "na"}.get(value, "")
    return ""


def style_verdict(column: str, value: Any) -> str:
    if column != "Verdict":
        return ""
    return {C.SUPPORTED: "ok", C.CONTRADICTED: "fail"}.get(value, "na")


def style_counts(column: str, value: Any) -> str:
    return "fail" if isinstance(value, str) and "failed" in value else ""


def numeric_columns(df: pd.DataFrame, first: int = 1) -> list:
    """The columns after the first `first` ones (right-aligned numbers)."""
    return list(df.columns[first:])
