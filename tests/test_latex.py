"""The PDF report: every string escaped for LaTeX, and report.tex compiles with latexmk."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import jinja2
import pytest

import fake_results as fr
from sagr import latex, report
from sagr.files import write_json
from sagr.report import render

NEEDS_LATEX = pytest.mark.skipif(
    shutil.which("latexmk") is None or shutil.which("pdftotext") is None,
    reason="latexmk/pdftotext not installed (.ci/run installs latexmk, TeX Live and poppler-utils)",
)

NASTY = "Müller's λ_x: 50% ±ε at ρ=8/255, #1 & $2 {a} ~b^c \\d <e> | Ω ∞ — “q” 💥"


def test_escape_yields_ascii_without_unescaped_specials() -> None:
    out = latex.latex_escape(NASTY)
    assert out.isascii()
    assert not re.search(
        r"(?<!\\)[_%#&{}]",
        re.sub(
            r"\\[a-zA-Z]+\{\}|\\[\"'`^~=.]\{\w\}|\{\}|"
            r"\\ensuremath|\$[^$]*\$",
            "",
            out,
        ),
    )
    assert r"$\rho$" in out and r"$\lambda$\_x" in out and r"$\pm\varepsilon$" in out  # one math group
    assert r"M\"{u}ller" in out and "[U+1F4A5]" in out  # nothing silently dropped


def test_template_escapes_every_value_unless_marked_latex() -> None:
    _, env = render.environments()
    tpl = env.from_string(r"<< a >>|<< b | latex >>|<< c | tex >>|<< d | heading >>")
    out = tpl.render(a="a_b", b=latex.Latex(r"\textbf{x}"), c="50%", d="Against λ_1")
    assert out == r"a\_b|\textbf{x}|50\%|\texorpdfstring{Against $\lambda$\_1}{Against λ\_1}"
    with pytest.raises(jinja2.UndefinedError):  # a missing value is an error, not silence
        env.from_string("<< missing >>").render()


def _pdf_text(pdf: Path, page: int) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", "-f", str(page), "-l", str(page), str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))


@NEEDS_LATEX
def test_fake_report_with_hostile_names_compiles_and_opens_with_the_verdicts(tmp_path: Path) -> None:
    root, out = tmp_path / "results", tmp_path / "report"
    manifest = fr.write_fake_results(root, sweep=True)
    write_json(root / "benchmark" / "cost.json", fr.fake_benchmark())
    config = fr.fake_config()
    config["note"] = NASTY  # user-supplied text reaches the verbatim config listing
    report.build_report(
        manifest,
        fr.input_files(root, manifest),
        config,
        out / "index.html",
        out / "report.tex",
        departures=[NASTY],
        benchmark=root / "benchmark" / "cost.json",
    )
    pdf = latex.compile_pdf(out / "report.tex")
    assert _pages(pdf) >= 3
    page1 = _pdf_text(pdf, 1)
    # page 1 opens with the verdicts and the headline table (tests/test_document.py reads it closely)
    assert "Verdicts on the paper" in page1
    for method in ("Standard", "PGD-AT", "SAGR"):
        assert method in page1
    full = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
    # The departure as typed, not mangled.
    assert "Müller" in full and "λ" in full and "ρ=8/255, #1 & $2 {a}" in full
    log = (out / "report.log").read_text(errors="replace")
    assert "LaTeX Warning: Reference" not in log and "Missing character" not in log


@NEEDS_LATEX
def test_latex_failure_raises_with_the_log_tail(tmp_path: Path) -> None:
    tex = tmp_path / "bad.tex"
    tex.write_text("\\documentclass{article}\\begin{document}\\undefinedmacro\\end{document}\n")
    with pytest.raises(RuntimeError, match="Undefined control sequence"):
        latex.compile_pdf(tex)


def test_missing_latexmk_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(latex.shutil, "which", lambda _: None)
    with pytest.raises(FileNotFoundError, match="latexmk not found"):
        latex.compile_pdf(tmp_path / "report.tex")
