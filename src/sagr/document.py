"""The report as a document: sections of paragraphs, tables and figures, built once, laid out twice.

`sagr.report` builds one `Document` from the results; `templates/index.html.j2` and
`templates/report.tex.j2` only lay it out (headings, table and figure markup, folds on the page,
the appendix in the PDF). Neither template holds a sentence of content of its own, so the page
and the PDF cannot drift apart: a section, table or figure exists in both or in neither.

Text is plain Unicode throughout; the LaTeX layer (`sagr.latex`) escapes it. Tables carry their
cells, not markup, and are split by columns (`split_columns`) so that each part fits the PDF's
text width at a readable size and the page without sideways scrolling.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

# Characters of table text that fit one line of the PDF's text width at the table font (\small,
# A4 with 2 cm margins, 4 pt column separation): the layout budget of every table, both formats.
LINE_CHARS = 120
# Tables are fitted to fewer characters than a line holds: widths estimated from character counts
# are only close to the typeset ones.
BUDGET = 112
COLUMN_GAP = 2  # the width, in characters, that the space between two columns takes

STYLES = ("", "b", "code", "fail", "ok", "na", "warn")


@dataclass(frozen=True)
class Span:
    """A run of text with one style: "" plain, "b" bold, "code", "fail"/"warn" red, "ok" green,
    "na" grey; ``href`` makes it a link (the PDF shows the target beside the text)."""

    text: str
    style: str = ""
    href: str = ""


def spans(*parts: str | Span | None) -> list[Span]:
    """Text pieces as spans (strings are plain; None and empty strings are dropped)."""
    return [p if isinstance(p, Span) else Span(p) for p in parts if p]


@dataclass
class Paragraph:
    """A paragraph; ``note`` paragraphs are set smaller (explanations beside a table or figure)."""

    spans: list[Span]
    note: bool = False
    kind: str = "paragraph"


@dataclass
class Bullets:
    """A bulleted list, each item a list of spans."""

    items: list[list[Span]]
    note: bool = False
    kind: str = "bullets"


@dataclass
class Code:
    """Literal text in a monospaced block (the configuration)."""

    text: str
    kind: str = "code"


@dataclass
class Cell:
    """One table cell: text (a newline is a line break inside the cell) and a style (`STYLES`)."""

    text: str
    style: str = ""


@dataclass
class Table:
    """A table as cells: header rows of (text, column span), body rows, one alignment per column.

    ``align``: "l" or "r" for columns that keep their width, "p" for text columns that wrap (their
    share of the width is ``wrap`` characters). ``long`` tables may break across PDF pages.
    """

    key: str
    title: str
    header: list[list[tuple[str, int]]]
    rows: list[list[Cell]]
    align: list[str]
    wrap: dict[int, int] = field(default_factory=dict)
    long: bool = False
    number: int = 0
    kind: str = "table"
    source: str = ""  # the anchor of its row in the sources appendix (`sagr.report.sources`)

    @property
    def columns(self) -> int:
        return len(self.align)

    def widths(self) -> list[int]:
        """Characters each column needs: its longest line (a wrapping column: its wrap width)."""
        out = [self.wrap.get(j, 0) for j in range(self.columns)]
        for j in range(self.columns):
            if self.align[j] == "p":
                continue
            lines = [line for r in self.rows for line in r[j].text.split("\n")]
            out[j] = max([len(s) for s in lines] + [1])
        # a header cell only counts for the column it sits on (grouped headers span several)
        if self.header:
            j = 0
            for text, span in self.header[-1]:
                if span == 1 and self.align[j] != "p":
                    out[j] = max([out[j]] + [len(line) for line in text.split("\n")])
                j += span
        return out

    def width(self) -> int:
        """Characters the whole table needs on one line, column gaps included."""
        return sum(self.widths()) + COLUMN_GAP * (self.columns - 1)


@dataclass
class Figure:
    """A figure file (``stem``.png on the page, ``stem``.pdf in the PDF) with its caption."""

    stem: str
    caption: str
    alt: str
    width: float = 1.0  # fraction of the text width in the PDF
    number: int = 0
    kind: str = "figure"
    source: str = ""


Block = Paragraph | Bullets | Code | Table | Figure


@dataclass
class Section:
    """A titled section: its blocks, then its subsections. ``fold``: closed on the page until
    clicked (its title stays visible); the PDF prints it in full."""

    key: str
    title: str
    blocks: list[Block] = field(default_factory=list)
    children: list[Section] = field(default_factory=list)
    fold: bool = False

    def add(self, *blocks: Block | None) -> Section:
        self.blocks.extend(b for b in blocks if b is not None)
        return self


@dataclass
class Document:
    """The whole report in reading order: title, one sentence of what was run (``lede``), the
    front sections (the first page: verdicts and headline numbers), the body, the appendix."""

    title: str
    citation: str
    meta: list[Span]
    lede: list[Span]
    front: list[Section]
    sections: list[Section]
    appendix: list[Section]

    def walk(self) -> Iterator[tuple[int, Section]]:
        """(depth, section) of every section in reading order, depth 1 for top-level ones."""

        def rec(sec: Section, depth: int) -> Iterator[tuple[int, Section]]:
            yield depth, sec
            for child in sec.children:
                yield from rec(child, depth + 1)

        for sec in self.front + self.sections + self.appendix:
            yield from rec(sec, 1)

    def blocks(self, kind: str) -> list[Any]:
        """Every block of one kind ("table", "figure", …) in reading order."""
        return [b for _, s in self.walk() for b in s.blocks if b.kind == kind]

    def number(self) -> Document:
        """Number tables and figures in reading order (both renderings print these numbers)."""
        for kind in ("table", "figure"):
            for i, block in enumerate(self.blocks(kind), start=1):
                block.number = i
        return self


# ---------------------------------------------------------------- tables from data frames


def _header(columns: pd.Index) -> list[list[tuple[str, int]]]:
    """Header rows of a (possibly MultiIndex) column index; equal neighbours merge into one span."""
    if not isinstance(columns, pd.MultiIndex):
        return [[(str(c), 1) for c in columns]]
    rows = []
    for level in range(columns.nlevels):
        row: list[tuple[str, int]] = []
        prev = None
        for tup in columns:
            # a label continues a span only where every level above it continues too
            key = tuple(tup[: level + 1])
            if row and key == prev and level < columns.nlevels - 1:
                row[-1] = (row[-1][0], row[-1][1] + 1)
            else:
                row.append((str(tup[level]), 1))
            prev = key
        rows.append(row)
    return rows


def frame_table(
    df: pd.DataFrame,
    key: str,
    title: str,
    *,
    style: Callable[[str, Any], str] | None = None,
    wrap: dict[str, int] | None = None,
    right: Sequence[str] = (),
    long: bool = False,
) -> Table:
    """A DataFrame (labels as ordinary columns) as a `Table`.

    ``style(column, value)`` gives a cell's style; ``wrap`` names the text columns that wrap and
    their width in characters; ``right`` the right-aligned (numeric) columns; other columns are
    left-aligned and keep their width.
    """
    wrap = wrap or {}
    names = [c[0] if isinstance(c, tuple) else c for c in df.columns]
    flat = [c if not isinstance(c, tuple) else c for c in df.columns]
    align, widths = [], {}
    for j, (name, col) in enumerate(zip(names, flat, strict=True)):
        if name in wrap:
            align.append("p")
            widths[j] = wrap[name]
        else:
            align.append("r" if col in right or name in right else "l")
    rows = []
    for values in df.itertuples(index=False, name=None):
        row = []
        for name, v in zip(names, values, strict=True):
            text = "–" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)
            row.append(Cell(text, style(name, v) if style else ""))
        rows.append(row)
    return fit_wraps(Table(key, title, _header(df.columns), rows, align, widths, long))


MIN_WRAP = 8  # the narrowest a wrapping column gets (characters)


def fit_wraps(table: Table, budget: int = BUDGET) -> Table:
    """Narrow the wrapping columns (in proportion) until the table fits the budget; a wrapping
    column is never narrower than its longest word (MIN_WRAP at least) nor wider than its longest
    text."""
    floor = {}
    for j in table.wrap:
        texts = [r[j].text for r in table.rows] + [t for t, _ in _header_cells(table, j)]
        lines = [line for t in texts for line in t.split("\n")]
        words = [w for line in lines for w in re.split(r"[ _/-]", line)]
        floor[j] = max([MIN_WRAP] + [len(w) + 1 for w in words])
        table.wrap[j] = max(floor[j], min(table.wrap[j], max(len(line) for line in lines)))
    over = table.width() - budget
    room = sum(w - floor[j] for j, w in table.wrap.items())
    if over > 0 and room > 0:
        cut = min(1.0, over / room)
        for j, w in table.wrap.items():
            table.wrap[j] = max(floor[j], int(w - (w - floor[j]) * cut))
    return table


def _header_cells(table: Table, column: int) -> list[tuple[str, int]]:
    """The last header row's cell over one column (a list of one, or none where a span covers it)."""
    j = 0
    for text, span in table.header[-1] if table.header else []:
        if j == column and span == 1:
            return [(text, span)]
        j += span
    return []


def split_columns(table: Table, keep: int = 1, budget: int = BUDGET) -> list[Table]:
    """The table cut into parts by columns so that each part fits ``budget`` characters.

    The first ``keep`` columns (the row labels) repeat in every part; a header group (a span of
    the top header row) is never cut unless it alone is wider than the budget. One part when the
    table fits; parts are titled "… (part i of k)".
    """
    if table.width() <= budget:
        return [table]
    widths = table.widths()
    base = sum(widths[:keep]) + COLUMN_GAP * keep
    # units: groups of columns that stay together (the top header row's spans)
    units: list[list[int]] = []
    j = 0
    for _, span in table.header[0] if len(table.header) > 1 else [(None, 1)] * table.columns:
        if j >= keep:
            units.append(list(range(j, j + span)))
        j += span
    units = [u for u in units for u in _fit_unit(u, widths, budget - base)]
    parts: list[list[int]] = [[]]
    used = 0
    for unit in units:
        w = sum(widths[i] + COLUMN_GAP for i in unit)
        if parts[-1] and used + w > budget - base:
            parts.append([])
            used = 0
        parts[-1].extend(unit)
        used += w
    if len(parts) == 1:
        return [table]
    out = []
    for i, cols in enumerate(parts, start=1):
        chosen = list(range(keep)) + cols
        out.append(_subtable(table, chosen, f"{table.key}-{i}", f"{table.title} (part {i} of {len(parts)})"))
    return out


def _fit_unit(unit: list[int], widths: list[int], room: int) -> list[list[int]]:
    """A header group wider than the room is split into single columns."""
    if sum(widths[i] + COLUMN_GAP for i in unit) <= room:
        return [unit]
    return [[i] for i in unit]


def _subtable(table: Table, cols: list[int], key: str, title: str) -> Table:
    """The table restricted to the given columns (header spans cut to match)."""
    header = []
    for row in table.header:
        spans_: list[tuple[str, int, int]] = []  # (text, first column, span)
        j = 0
        for text, span in row:
            spans_.append((text, j, span))
            j += span
        new: list[tuple[str, int]] = []
        for text, first, span in spans_:
            n = sum(1 for c in cols if first <= c < first + span)
            if n:
                new.append((text, n))
        header.append(new)
    rows = [[r[c] for c in cols] for r in table.rows]
    align = [table.align[c] for c in cols]
    wrap = {i: table.wrap[c] for i, c in enumerate(cols) if c in table.wrap}
    return Table(key, title, header, rows, align, wrap, table.long)
