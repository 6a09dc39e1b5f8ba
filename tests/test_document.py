"""The report as one document: the page and the PDF hold the same sections, tables and figures,
page 1 carries the verdicts and the headline table, every table fits the page, every character
renders, and a comparison on too few points says so."""

from __future__ import annotations

import html as htmllib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from scipy.stats import binomtest

import fake_results as fr
from sagr import claims as C
from sagr import latex, report, stats
from sagr import presentation as P
from sagr.document import BUDGET, Cell, Table, split_columns
from sagr.files import write_json

NEEDS_LATEX = pytest.mark.skipif(
    any(shutil.which(t) is None for t in ("latexmk", "pdftotext", "pdftohtml")),
    reason="latexmk/poppler-utils not installed (.ci/run installs latexmk, TeX Live and poppler-utils)",
)
PRIME = "ε < ε′ (Müller’s λ_x · 50 %)"  # Unicode a config string can carry into the listing


def _build(base: Path, datasets: tuple[str, ...] = tuple(fr.DATASETS)) -> dict:
    """The fake tree (restricted to `datasets`) rendered and, where LaTeX is installed, compiled."""
    root, out = base / "results", base / "report"
    manifest = [e for e in fr.write_fake_results(root, sweep=True) if e["dataset"] in datasets]
    write_json(root / "benchmark" / "cost.json", fr.fake_benchmark())
    config = fr.fake_config()
    config["note"] = PRIME
    report.build_report(
        manifest,
        fr.input_files(root, manifest),
        config,
        out / "index.html",
        out / "report.tex",
        departures=[f"Departure: {PRIME}."],
        benchmark=root / "benchmark" / "cost.json",
    )
    return {"out": out, "html": (out / "index.html").read_text(), "tex": (out / "report.tex").read_text()}


@pytest.fixture(scope="module")
def pdf_report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    if any(shutil.which(t) is None for t in ("latexmk", "pdftotext", "pdftohtml")):
        pytest.skip("latexmk/poppler-utils not installed")
    # one dataset, as the default run: its first page holds the verdicts and the headline table
    built = _build(tmp_path_factory.mktemp("document"), datasets=("mnist",))
    built["pdf"] = latex.compile_pdf(built["out"] / "report.tex")
    return built


def _pdftotext(pdf: Path, *args: str) -> str:
    return subprocess.run(
        ["pdftotext", *args, str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout


def _flat(text: str) -> str:
    """Whitespace collapsed (pdftotext breaks lines where the PDF does), quotes straight."""
    return re.sub(r"\s+", " ", text).replace("’", "'")


def _html_headings(html: str) -> list[str]:
    """Titles of the page's section headings (h2–h4), without their numbers."""
    out = []
    for m in re.finditer(r"<h([234])[^>]*>(.*?)</h\1>", html, flags=re.S):
        text = re.sub(r'<span class="num">.*?</span>', "", m.group(2))
        out.append(htmllib.unescape(re.sub(r"<[^>]+>", "", text)).strip())
    return out


def _pdf_outline(pdf: Path) -> list[str]:
    """Titles of the PDF's bookmarks (one per \\section, \\subsection, …), in order."""
    xml = subprocess.run(
        ["pdftohtml", "-xml", "-i", "-stdout", str(pdf)], capture_output=True, text=True, check=True
    ).stdout
    return [htmllib.unescape(t).strip() for t in re.findall(r"<item[^>]*>(.*?)</item>", xml)]


def _captions(html: str, kind: str) -> list[tuple[int, str]]:
    """(number, title) of every "Table N." / "Figure N." caption on the page."""
    found = re.findall(rf"<figcaption>{kind} (\d+)\. (.*?)</figcaption>", html, flags=re.S)
    return [(int(n), htmllib.unescape(re.sub(r"<[^>]+>", "", t)).strip()) for n, t in found]


# ---------------------------------------------------------------- one document, two layouts


@NEEDS_LATEX
def test_page_and_pdf_hold_the_same_sections_in_the_same_order(pdf_report: dict) -> None:
    page = _html_headings(pdf_report["html"])
    pdf = _pdf_outline(pdf_report["pdf"])
    assert len(page) >= 20, page  # every section of the fake report, subsections included
    assert page == pdf


@NEEDS_LATEX
def test_every_table_and_figure_of_the_page_is_in_the_pdf_with_the_same_number(pdf_report: dict) -> None:
    text = _flat(_pdftotext(pdf_report["pdf"]))
    for kind in ("Table", "Figure"):
        captions = _captions(pdf_report["html"], kind)
        assert [n for n, _ in captions] == list(range(1, len(captions) + 1))
        for number, title in captions:
            # a caption's first words suffice: pdftotext spells math (ε, ∞) as the PDF's glyphs
            head = _flat(title)[:40]
            assert f"{kind} {number}. {head}" in text, f"{kind} {number} ({title!r}) is not in the PDF"
    pages = int(
        re.search(r"Pages:\s+(\d+)", subprocess.check_output(["pdfinfo", str(pdf_report["pdf"])], text=True))[
            1
        ]
    )
    # and nothing the page lacks: the PDF has no further numbered table or figure
    n_tables = len(_captions(pdf_report["html"], "Table"))
    assert f"Table {n_tables + 1}. " not in text and pages > 3


@NEEDS_LATEX
def test_pdf_page_one_carries_the_verdicts_and_the_headline_table(pdf_report: dict) -> None:
    page1 = _pdftotext(pdf_report["pdf"], "-layout", "-f", "1", "-l", "1")
    assert "Replication report" in page1 and "This run trained" in page1
    assert "Verdicts on the paper" in page1 and C.SUPPORTED in page1 and C.NOT_TESTED in page1
    assert "Headline results" in page1
    # the headline table: each method with its clean accuracy, mean ± sd [interval]
    cell = r"\d+\.\d ± \d+\.\d \[\d+\.\d, \d+\.\d\]"
    for method in ("Standard", "PGD-AT", "SAGR"):
        assert re.search(rf"{method}[^\d\n]*{cell}\s+{cell}", page1), (method, page1)
    # the per-attack breakdown is not on page 1: it is in the appendix
    assert "FGSM" not in page1.split("Headline results", 1)[1]


@NEEDS_LATEX
def test_masking_details_and_config_are_in_the_appendix(pdf_report: dict) -> None:
    outline = _pdf_outline(pdf_report["pdf"])
    appendix = outline[outline.index("Appendix") :]
    for title in (
        "Accuracy under each attack",
        "Every gradient-masking check",
        "Provenance",
        "Configuration",
    ):
        assert title in appendix
    text = _flat(_pdftotext(pdf_report["pdf"]))
    body = text[: text.index("Appendix A Accuracy under each attack")]
    # passing checks' details appear only after the appendix starts
    assert "more_steps_no_gain numbers for standard seed 0" not in body
    assert "more_steps_no_gain numbers for standard seed 0" in text


@NEEDS_LATEX
def test_every_character_the_report_produces_renders_in_the_pdf(pdf_report: dict) -> None:
    text = _pdftotext(pdf_report["pdf"])
    assert "[U+" not in text and "\\u" not in text
    body = re.sub(r"<style>.*?</style>", "", pdf_report["html"], flags=re.S)  # layout, not text
    page_text = htmllib.unescape(re.sub(r"<[^>]+>", "", body))
    assert text.count("?") <= page_text.count("?")  # no glyph replaced by a question mark
    # every non-ASCII character on the page has a LaTeX spelling (none is named instead)
    for ch in sorted({c for c in page_text if not c.isascii()}):
        assert "[U+" not in latex.latex_escape(ch), f"{ch!r} (U+{ord(ch):04X}) has no LaTeX spelling"
    # the config string and the departure keep their prime and λ
    # (the prime is a raised glyph: pdftotext may set it apart)
    assert len(re.findall(r"ε < ε ?′", _flat(text))) >= 2 and "λ" in text
    log = (pdf_report["out"] / "report.log").read_text(errors="replace")
    assert "Missing character" not in log


@NEEDS_LATEX
def test_no_table_is_shrunk_and_none_runs_off_the_pdf_page(pdf_report: dict) -> None:
    tex = pdf_report["tex"]
    assert "adjustbox" not in tex and "\\tiny" not in tex and "\\scriptsize" not in tex
    log = (pdf_report["out"] / "report.log").read_text(errors="replace")
    over = [float(x) for x in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]
    assert max(over, default=0.0) < 10, over  # a few points of a long word, never a column


@NEEDS_LATEX
def test_figures_stay_with_their_sections(pdf_report: dict) -> None:
    assert "\\begin{figure}[H]" in pdf_report["tex"] and "[htbp]" not in pdf_report["tex"]
    pages = {}
    xml = subprocess.run(
        ["pdftohtml", "-xml", "-i", "-stdout", str(pdf_report["pdf"])], capture_output=True, text=True
    ).stdout
    for m in re.finditer(r'<item page="(\d+)">(.*?)</item>', xml):
        pages[htmllib.unescape(m.group(2))] = int(m.group(1))
    text_pages = _pdftotext(pdf_report["pdf"]).split("\f")
    fig1 = next(i + 1 for i, p in enumerate(text_pages) if "Figure 1." in p)
    # the ε curves sit on the page of their section's heading or the next one
    assert pages["Robust accuracy against ε"] <= fig1 <= pages["Robust accuracy against ε"] + 1


# ---------------------------------------------------------------- tables fit


def _wide_table(columns: int) -> Table:
    """One row label and `columns` accuracy cells of 23 characters under one group head."""
    header = [[("Method", 1), ("Worst case", columns)], [("", 1)] + [(f"ε={i}", 1) for i in range(columns)]]
    rows = [[Cell("SAGR")] + [Cell("55.0 ± 2.8 [50.5, 59.4]") for _ in range(columns)]]
    return Table("t", "A table", header, rows, ["l"] + ["r"] * columns)


def test_split_columns_keeps_every_part_within_the_budget_and_repeats_the_row_labels() -> None:
    table = _wide_table(12)
    assert table.width() > BUDGET
    parts = split_columns(table)
    per_part = (BUDGET - len("Method") - 2) // 25  # columns of 23 characters and their gap
    assert len(parts) == -(-12 // per_part)
    assert all(p.width() <= BUDGET for p in parts)
    assert all(p.rows[0][0].text == "SAGR" for p in parts)
    # every column appears exactly once over the parts, in order
    heads = [h for p in parts for h, _ in p.header[-1][1:]]
    assert heads == [f"ε={i}" for i in range(12)]
    assert [p.header[0][1][1] for p in parts] == [per_part] * (len(parts) - 1) + [
        12 - per_part * (len(parts) - 1)
    ]
    assert parts[1].title == f"A table (part 2 of {len(parts)})"
    assert split_columns(_wide_table(3)) == [_wide_table(3)]


# ---------------------------------------------------------------- what a comparison can see


def test_mcnemar_detectable_difference_matches_the_exact_test() -> None:
    for alpha in (0.05, 0.01):
        d = stats.mcnemar_min_discordant(alpha)
        assert binomtest(d, d, 0.5).pvalue < alpha <= binomtest(d - 1, d - 1, 0.5).pvalue
    assert stats.mcnemar_min_discordant(0.05) == 6  # 2 · 0.5⁶ = 0.031 < 0.05 ≤ 2 · 0.5⁵
    assert stats.mcnemar_detectable(60, 0.05) == pytest.approx(0.1)
    assert stats.mcnemar_detectable(5, 0.05) != stats.mcnemar_detectable(5, 0.05)  # NaN: cannot detect


def test_a_reference_check_on_too_few_points_says_so_instead_of_no_difference() -> None:
    verdict, seen = P.reference_reading(3, False, 0.05)
    assert verdict == "too few points to tell (n = 3)" and "≥ 6 discordant points" in seen
    verdict, seen = P.reference_reading(0, False, 0.05)
    assert verdict.startswith(P.TOO_FEW) and "n = 0" in verdict
    verdict, seen = P.reference_reading(200, False, 0.05)
    assert verdict == P.NO_DIFFERENCE and seen == "≥ 3 pp (n = 200)"
    assert P.reference_reading(200, True, 0.05)[0] == P.DIFFERS


def test_report_counts_reference_checks_that_could_not_tell(tmp_path: Path) -> None:
    root = tmp_path / "results"
    manifest = fr.write_fake_results(root, sweep=False)
    for e in manifest:  # the default run's situation: the reference saw 0–5 points per model
        path = root / e["dataset"] / e["run"] / "robustness.json"
        rob = json.loads(path.read_text())
        if rob["reference_autoattack"]:
            rob["reference_autoattack"].update(n=e["seed"] * 5, differs=False, mcnemar_p=1.0)
            write_json(path, rob)  # with its hash record, as the evaluate job writes it
    out = tmp_path / "report"
    report.build_report(
        manifest, fr.input_files(root, manifest), fr.fake_config(), out / "index.html", out / "report.tex"
    )
    html = (out / "index.html").read_text()
    ref = html[html.index('id="reference"') :]
    ref = ref[: ref.index("</section>")]
    assert "too few points to tell (n = 0)" in ref and "too few points to tell (n = 5)" in ref
    assert "No model differs" not in html and 'class="ok"' not in ref
    assert "on 6 the comparison had too few points to tell (n = 0–5)" in ref
