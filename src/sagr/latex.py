"""LaTeX output: escaping any text for pdflatex, laying out the document model's blocks (tables,
figures, styled text), and compiling report.tex to a PDF with latexmk.

Every string that reaches the LaTeX template goes through `latex_escape` (the jinja
environment applies it to every ``<< … >>`` expression unless the template marks the value
as ready-made LaTeX with the ``latex`` filter), so user-supplied names, Greek letters, ±, ε
and underscores never break the build. The output is pure ASCII: pdflatex accepts it with
any input encoding.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sagr.document import Span, Table

log = logging.getLogger("sagr")

_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
}
_SYMBOLS = {
    "±": r"$\pm$",
    "′": r"$'$",
    "″": r"$''$",
    "∧": r"$\wedge$",
    "∨": r"$\vee$",
    "¬": r"$\neg$",
    "≪": r"$\ll$",
    "≫": r"$\gg$",
    "⇒": r"$\Rightarrow$",
    "⇔": r"$\Leftrightarrow$",
    "↔": r"$\leftrightarrow$",
    "∂": r"$\partial$",
    "∝": r"$\propto$",
    "∅": r"$\emptyset$",
    "∀": r"$\forall$",
    "∃": r"$\exists$",
    "⊂": r"$\subset$",
    "⊆": r"$\subseteq$",
    "∩": r"$\cap$",
    "∪": r"$\cup$",
    "∼": r"$\sim$",
    "≡": r"$\equiv$",
    "⊤": r"$\top$",
    "ᵀ": r"$^\top$",
    "∥": r"$\|$",
    "⌈": r"$\lceil$",
    "⌉": r"$\rceil$",
    "⌊": r"$\lfloor$",
    "⌋": r"$\rfloor$",
    "⟨": r"$\langle$",
    "⟩": r"$\rangle$",
    "≲": r"$\lesssim$",
    "≳": r"$\gtrsim$",
    "•": r"\textbullet{}",
    "€": r"EUR",
    "«": r"$\ll$",
    "»": r"$\gg$",
    "\u2009": r"\,",
    "\u202f": r"\,",
    "ε": r"$\varepsilon$",
    "∞": r"$\infty$",
    "∇": r"$\nabla$",
    "ℓ": r"$\ell$",
    "≤": r"$\leq$",
    "≥": r"$\geq$",
    "≈": r"$\approx$",
    "≠": r"$\neq$",
    "×": r"$\times$",
    "·": r"$\cdot$",
    "→": r"$\rightarrow$",
    "←": r"$\leftarrow$",
    "↑": r"$\uparrow$",
    "↓": r"$\downarrow$",
    "‖": r"$\|$",
    "√": r"$\surd$",
    "−": r"$-$",
    "∈": r"$\in$",
    "∑": r"$\sum$",
    "°": r"$^\circ$",
    "µ": r"$\mu$",
    "⚠": r"$^{\dagger}$",
    "†": r"$^{\dagger}$",
    "ₓ": r"$_x$",
    "₋": r"$_-$",
    "₂": r"$_2$",
    "²": r"$^2$",
    "–": "--",
    "—": "---",
    "“": "``",
    "”": "''",
    "‘": "`",
    "’": "'",
    "…": r"\ldots{}",
    "\u00a0": "~",
    "✓": r"$\checkmark$",
    "✗": r"$\times$",
    "ß": r"{\ss}",
    "æ": r"{\ae}",
    "Æ": r"{\AE}",
    "ø": r"{\o}",
    "Ø": r"{\O}",
    "å": r"{\aa}",
    "Å": r"{\AA}",
    "ł": r"{\l}",
    "Ł": r"{\L}",
    "§": r"\S{}",
    "©": r"\copyright{}",
}
# Greek letters by their Unicode name; variants LaTeX spells differently.
_GREEK_NAMES = {"lamda": "lambda", "final sigma": "varsigma"}
_GREEK_UPPER = {"Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi", "Omega"}
_GREEK_AS_LATIN = {
    "Alpha": "A",
    "Beta": "B",
    "Epsilon": "E",
    "Zeta": "Z",
    "Eta": "H",
    "Iota": "I",
    "Kappa": "K",
    "Mu": "M",
    "Nu": "N",
    "Omicron": "O",
    "Rho": "P",
    "Tau": "T",
    "Chi": "X",
}
_ACCENTS = {
    "\u0301": "'",
    "\u0300": "`",
    "\u0302": "^",
    "\u0308": '"',
    "\u0303": "~",
    "\u0327": "c",
    "\u030c": "v",
    "\u0304": "=",
    "\u0306": "u",
    "\u030a": "r",
    "\u0328": "k",
    "\u030b": "H",
    "\u0307": ".",
}


def _greek(ch: str) -> str | None:
    """$\\rho$ for ρ, $\\Omega$ for Ω; upper-case letters without a LaTeX macro as Latin ones."""
    name = unicodedata.name(ch, "")
    for prefix, upper in (("GREEK SMALL LETTER ", False), ("GREEK CAPITAL LETTER ", True)):
        if name.startswith(prefix) and " WITH " not in name:
            word = _GREEK_NAMES.get(name[len(prefix) :].lower(), name[len(prefix) :].lower())
            if upper:
                word = word.capitalize()
                if word not in _GREEK_UPPER:  # Alpha, Beta, ... are written as A, B, ...
                    return _GREEK_AS_LATIN.get(word, "?")
            if word == "omicron":
                return "o"
            return f"$\\{word}$"
    return None


def _char(ch: str) -> str:
    if ch in _SPECIAL:
        return _SPECIAL[ch]
    if ch in _SYMBOLS:
        return _SYMBOLS[ch]
    if ch.isascii():
        return ch if ch.isprintable() or ch in "\n\t" else " "
    greek = _greek(ch)
    if greek is not None:
        return greek
    base, *marks = unicodedata.normalize("NFD", ch)
    if base.isascii() and marks and all(m in _ACCENTS for m in marks):
        out = _char(base)
        for mark in marks:
            out = f"\\{_ACCENTS[mark]}{{{out}}}"
        return out
    ascii_form = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
    if ascii_form:
        return "".join(_char(c) for c in ascii_form)
    # Anything else is named rather than dropped: the reader sees what was there.
    return f"[U+{ord(ch):04X}]"


def latex_escape(text: Any) -> str:
    """Plain text (or a number) as ASCII LaTeX source that pdflatex typesets as the text reads."""
    out: list[str] = []
    for ch in str(text):
        piece = _char(ch)
        if out and out[-1].endswith("$") and piece.startswith("$"):
            # one math group, not "$\\pm$$\\varepsilon$" (display math): "ε′" stays one symbol
            out[-1], piece = out[-1][:-1], piece[1:]
        out.append(piece)
    return "".join(out)


class Latex(str):
    """A string that already is LaTeX source: the template environment leaves it unescaped."""


def as_latex(value: Any) -> Latex:
    """Jinja filter ``latex``: mark ready-made LaTeX (tables rendered by pandas) as safe."""
    return value if isinstance(value, Latex) else Latex("" if value is None else str(value))


def finalize(value: Any) -> Any:
    """Jinja ``finalize`` of the LaTeX environment: escape every value not marked as LaTeX."""
    if isinstance(value, Latex):
        return value
    if value is None:
        return ""
    return latex_escape(value)


# ---------------------------------------------------------------- the document model's blocks

_COLOURS = {"fail": "B00020", "warn": "B00020", "ok": "1A7F37", "na": "6E7781"}


def styled(text: str, style: str) -> str:
    """Escaped text in one of the document model's styles (`sagr.document.STYLES`)."""
    body = latex_escape(text)
    if style == "b":
        return f"\\textbf{{{body}}}"
    if style == "code":
        return f"\\texttt{{{body}}}"
    if style in ("fail", "warn"):
        return f"\\textcolor[HTML]{{{_COLOURS[style]}}}{{\\textbf{{{body}}}}}"
    if style in _COLOURS:
        return f"\\textcolor[HTML]{{{_COLOURS[style]}}}{{{body}}}"
    return body


def heading(text: str) -> Latex:
    """A section title: typeset escaped, and as Unicode in the PDF's bookmarks (hyperref's
    ``\\texorpdfstring``: a bookmark cannot hold math, so "Against $\\beta$" would lose its β)."""
    plain_ = "".join(_SPECIAL.get(ch, ch) if ch in "\\{}#%&_~^$" else ch for ch in str(text))
    return Latex(f"\\texorpdfstring{{{latex_escape(text)}}}{{{plain_}}}")


def spans(parts: list[Span]) -> Latex:
    """A paragraph's spans; a link shows its target in typewriter type after the text."""
    out = []
    for s in parts:
        out.append(styled(s.text, s.style))
        if s.href and not s.href.endswith(s.text):
            out.append(f" (\\texttt{{{latex_escape(s.href)}}})")
    return Latex("".join(out))


def _cell(text: str, style: str, wraps: bool, align: str = "l") -> str:
    """One cell: lines joined by a line break (a nested tabular where the column does not wrap);
    in wrapping columns long names may break after an underscore, a slash or a hyphen."""
    lines = [styled(line, style) for line in text.split("\n")]
    if wraps:
        lines = [re.sub(r"(\\_|/|(?<!-)-(?!-))", r"\1\\allowbreak{}", line) for line in lines]
        return "\\newline ".join(lines)
    if len(lines) == 1:
        return lines[0]
    return f"\\begin{{tabular}}[t]{{@{{}}{align}@{{}}}}" + "\\\\ ".join(lines) + "\\end{tabular}"


def _colspec(table: Table) -> str:
    from sagr.document import LINE_CHARS  # the document's layout budget (imported late: no cycle)

    spec = []
    for j, a in enumerate(table.align):
        if a == "p":
            frac = table.wrap[j] / LINE_CHARS
            spec.append(f">{{\\raggedright\\arraybackslash}}p{{{frac:.3f}\\linewidth}}")
        else:
            spec.append(a)
    return "".join(spec)


def _header(table: Table) -> str:
    lines = []
    last = len(table.header) - 1
    for i, row in enumerate(table.header):
        cells, rules, j = [], [], 0
        for text, span in row:
            body = latex_escape(text)
            if i < last:
                cells.append(f"\\multicolumn{{{span}}}{{c}}{{{body}}}" if span > 1 else body)
                if text and span > 1:
                    rules.append(f"\\cmidrule(lr){{{j + 1}-{j + span}}}")
            else:
                wraps = table.align[j] == "p"
                cells.append(body if wraps or span > 1 else _cell(text, "", False, "c"))
            j += span
        lines.append(" & ".join(cells) + " \\\\" + (" " + " ".join(rules) if rules else ""))
    return "\n".join(lines)


def _body(table: Table) -> str:
    return "\n".join(
        " & ".join(_cell(c.text, c.style, table.align[j] == "p", table.align[j]) for j, c in enumerate(row))
        + " \\\\"
        for row in table.rows
    )


def table(t: Table) -> Latex:
    """A `sagr.document.Table` as booktabs LaTeX at \\small, captioned and numbered; long tables
    as a longtable (its header repeats on every page), others held in place ([H])."""
    spec, head, body = _colspec(t), _header(t), _body(t)
    # the sources appendix's row, by its section number, as the page links to it
    src = f" (sources: Appendix \\ref{{sec:{t.source}}})" if t.source else ""
    caption = f"\\caption{{{latex_escape(t.title)}{src}}}\\label{{tab:{t.number}}}"
    if t.long:
        return Latex(
            "{\\small\n"
            f"\\begin{{longtable}}{{{spec}}}\n{caption}\\\\\n"
            f"\\toprule\n{head}\n\\midrule\n\\endfirsthead\n"
            f"\\toprule\n{head}\n\\midrule\n\\endhead\n"
            f"\\bottomrule\n\\endlastfoot\n{body}\n\\end{{longtable}}\n}}\n"
        )
    return Latex(
        "\\begin{table}[H]\n\\centering\\small\n"
        f"{caption}\n\\begin{{tabular}}{{{spec}}}\n\\toprule\n{head}\n\\midrule\n{body}\n"
        "\\bottomrule\n\\end{tabular}\n\\end{table}\n"
    )


def code(text: str) -> Latex:
    """Literal text (the configuration) in typewriter type: every character escaped like the rest
    of the report (so Unicode renders), indentation kept, long lines wrapped with a hanging indent."""
    out = []
    for line in str(text).splitlines():
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        hang = f"\\hangindent={0.5 * indent + 2:g}em\\hangafter=1 "
        out.append(hang + "\\hspace*{" + f"{0.5 * indent:g}" + "em}" + latex_escape(stripped) + "\\par")
    return Latex("{\\ttfamily\\footnotesize\\raggedright\\parindent=0pt\n" + "\n".join(out) + "\n}\n")


def latexmk() -> str | None:
    """Path of latexmk, or None where LaTeX is not installed."""
    return shutil.which("latexmk")


def compile_pdf(tex: Path, out_pdf: Path | None = None, timeout_s: float = 600) -> Path:
    """report.tex -> report.pdf with latexmk (pdflatex, as many passes as the TOC needs).

    Raises RuntimeError with the tail of the LaTeX log when compilation fails, and
    FileNotFoundError when latexmk is missing (callers decide whether that is fatal).
    """
    tex = Path(tex).resolve()
    exe = latexmk()
    if exe is None:
        raise FileNotFoundError(
            "latexmk not found: install latexmk and TeX Live "
            "(texlive-latex-recommended, texlive-latex-extra, "
            "texlive-fonts-recommended) to build the PDF"
        )
    cmd = [
        exe,
        "-pdf",
        "-interaction=nonstopmode",
        "-halt-on-error",
        "-file-line-error",
        f"-outdir={tex.parent}",
        tex.name,
    ]
    proc = subprocess.run(
        cmd, cwd=tex.parent, capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL
    )
    pdf = tex.with_suffix(".pdf")
    if proc.returncode != 0 or not pdf.is_file():
        logfile = tex.with_suffix(".log")
        tail = logfile.read_text(errors="replace")[-3000:] if logfile.is_file() else proc.stdout[-3000:]
        raise RuntimeError(f"latexmk failed on {tex} (exit {proc.returncode}); end of the log:\n{tail}")
    if out_pdf is not None and Path(out_pdf).resolve() != pdf:
        shutil.copyfile(pdf, out_pdf)
        return Path(out_pdf)
    return pdf
