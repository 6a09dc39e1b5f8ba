"""The two layouts of one document: jinja2 templates for HTML and LaTeX (layout only, no content)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from sagr import latex
from sagr.document import (
    Document,
)

TEMPLATES = Path(__file__).parents[1] / "templates"


def environments() -> tuple[jinja2.Environment, jinja2.Environment]:
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
    html_env, tex_env = environments()
    out_html.parent.mkdir(parents=True, exist_ok=True)
    fig_html = Path(os.path.relpath(fig_dir, out_html.parent)).as_posix()
    out_html.write_text(html_env.get_template("index.html.j2").render(fig=fig_html, doc=doc))
    out_tex.parent.mkdir(parents=True, exist_ok=True)
    fig_tex = Path(os.path.relpath(fig_dir, out_tex.parent)).as_posix()
    out_tex.write_text(tex_env.get_template("report.tex.j2").render(fig=fig_tex, doc=doc))
