"""LaTeX output: escaping any text for pdflatex, and compiling report.tex to a PDF with latexmk.

Every string that reaches the LaTeX template goes through `latex_escape` (the jinja
environment applies it to every ``<< … >>`` expression unless the template marks the value
as ready-made LaTeX with the ``latex`` filter), so user-supplied names, Greek letters, ±, ε
and underscores never break the build. The output is pure ASCII: pdflatex accepts it with
any input encoding.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import unicodedata
from pathlib import Path
from typing import Any

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
    "−": "-",
    "∈": r"$\in$",
    "∑": r"$\sum$",
    "°": r"$^\circ$",
    "µ": r"$\mu$",
    "⚠": r"$^{\dagger}$",
    "†": r"$^{\dagger}$",
    "ₓ": r"$_x$",
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
            out.append("{}")  # "$\\pm$$\\varepsilon$" would open display math
        out.append(piece)
    return "".join(out)


def verbatim_ascii(text: Any) -> str:
    """Text for a verbatim block: non-ASCII characters written as \\uXXXX (verbatim cannot escape)."""
    return "".join(ch if ch.isascii() else f"\\u{ord(ch):04x}" for ch in str(text))


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
