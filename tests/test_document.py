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

import pandas as pd
import pytest
from scipy.stats import binomtest

import fake_results as fr
from sagr import claims as C
from sagr import latex, report, stats
from sagr import presentation as P
from sagr.document import BUDGET, Cell, Table, split_columns
from sagr.files import write_json
from sagr.labels import method_label, sorted_methods
from sagr.report import claims as rep_claims
from sagr.report import reference as rep_reference

NEEDS_LATEX = pytest.mark.skipif(
    any(shutil.which(t) is None for t in ("latexmk", "pdftotext", "pdftohtml")),
    reason="latexmk/poppler-utils not installed (.ci/run installs latexmk, TeX Live and poppler-utils)",
)
PRIME = "ε < ε′ (Müller’s λ_x · 50 %)"  # Unicode a config string can carry into the listing


def _build(
    base: Path, datasets: tuple[str, ...] = tuple(fr.DATASETS), methods: list[str] = fr.METHODS
) -> dict:
    """The fake tree (restricted to `datasets`) rendered and, where LaTeX is installed, compiled."""
    root, out = base / "results", base / "report"
    manifest = [
        e for e in fr.write_fake_results(root, sweep=True, methods=methods) if e["dataset"] in datasets
    ]
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
    # one dataset and seven methods, as the default run: its first page holds the verdicts and the
    # headline table
    built = _build(tmp_path_factory.mktemp("document"), datasets=("mnist",), methods=fr.ALL_METHODS)
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
    # the title only: without the link to the caption's sources row (the PDF says "sources: Appendix …")
    found = [(n, re.sub(r'<a class="src"[^>]*>.*?</a>', "", t)) for n, t in found]
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
    # the headline table's caption and every method's row: clean and the worst case at each ε, each
    # mean ± sd [interval], with the column heads' n
    assert "Table 2. MNIST: accuracy (%) of each method, clean and under the worst case" in _flat(page1)
    assert len(re.findall(r"n=\d+", page1.split("Headline results", 1)[1])) >= 4
    cell = r"\d+\.\d ± \d+\.\d \[\d+\.\d, \d+\.\d\]"
    eps = len(fr.DATASETS["mnist"]["eps"])
    for method in sorted_methods(fr.ALL_METHODS):
        row = rf"^\s*{re.escape(method_label(method))}[^\d\n]*" + r"\s+".join([cell] * (1 + eps)) + r"\s*$"
        assert re.search(row, page1, flags=re.M), (method, page1)
    # every claim's verdict row with its effect and interval, in the compact layout
    for cid in ("C1", "C2", "C3", "C4", "C5", "C6"):
        assert re.search(rf"^\s*{cid}\. ", page1, flags=re.M), (cid, page1)
    assert len(re.findall(r"[+−]\d+\.\d+ \[[+−]\d+\.\d+, [+−]\d+\.\d+\]", page1)) >= 6
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
        "Settings",
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
    verdict, seen = rep_reference.reference_reading(3, False, 0.05)
    assert verdict == "too few points to tell (n = 3)" and "≥ 6 discordant points" in seen
    verdict, seen = rep_reference.reference_reading(0, False, 0.05)
    assert verdict.startswith(rep_reference.TOO_FEW) and "n = 0" in verdict
    verdict, seen = rep_reference.reference_reading(200, False, 0.05)
    assert verdict == rep_reference.NO_DIFFERENCE and seen == "≥ 3 pp (n = 200)"
    assert rep_reference.reference_reading(200, True, 0.05)[0] == rep_reference.DIFFERS


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
    assert "could not tell on any of the 6 models" in ref and "(n = 0–5)" in ref
    assert "The smallest difference it could have detected: none, of any size" in ref


def _reference_rows(*cases: tuple[int, bool]) -> pd.DataFrame:
    """`reference_table`-shaped rows for comparisons on n points (differs or not), α = 0.05."""
    readings = [rep_reference.reference_reading(n, differs, 0.05) for n, differs in cases]
    return pd.DataFrame(
        {
            "n": [n for n, _ in cases],
            "Verdict": [v for v, _ in readings],
            "Smallest detectable difference": [d for _, d in readings],
        }
    )


def test_reference_summary_when_every_model_had_too_few_points_says_it_could_not_tell() -> None:
    text = "".join(
        s.text for s in rep_reference.reference_summary(_reference_rows((0, False), (3, False), (5, False)))
    )
    # not "no model differs" / "none differs": it could not have seen a difference of any size
    assert not re.search(r"\b(no model|none) differs?\b", text, flags=re.I), text
    assert "no difference" not in text.lower()
    assert "could not tell on any of the 3 models" in text and "(n = 0–5)" in text
    need = stats.mcnemar_min_discordant(0.05)
    assert "smallest difference it could have detected: none, of any size" in text
    assert f"needs ≥ {need} points where the two disagree" in text


def test_reference_summary_keeps_differences_agreements_and_too_few_apart() -> None:
    spans = rep_reference.reference_summary(_reference_rows((200, True), (200, False), (4, False)), 0.05)
    text = "".join(s.text for s in spans)
    assert [s.text for s in spans if s.style == "fail"] == ["1 differs"]
    assert "3 models compared" in text and "1 differs" in text
    assert "1 shows no difference on enough points to see one" in text and "≥ 3 pp (n = 200)" in text
    assert "on 1 it could not tell: too few points (n = 4" in text


# ---------------------------------------------------------------- numbers as printed


def test_negative_numbers_carry_a_minus_sign_not_a_hyphen() -> None:
    cell = P.fmt_difference(-0.023, -0.071, 0.025)
    assert cell == "\u22122.3 [\u22127.1, +2.5]" and "-" not in cell
    assert P.fmt_signed(-0.5, 3) == "\u22120.500" and P.fmt_signed(0.25, 2) == "+0.25"
    assert P.fmt_number(-1.25, 1) == "\u22121.2" and P.fmt_number(0.0) == "0.0"
    assert "-" not in P.fmt_estimate(-0.012, 0.003, 2, -0.02, -0.004, scale=1.0, digits=3)
    # the PDF typesets it as a math minus, not a hyphen
    assert latex.latex_escape(cell).startswith("$-$2.3")


# ---------------------------------------------------------------- the first page's verdicts


def _claim_rows(verdict: str, *comparisons: tuple[str, float, float, float, str, bool]) -> pd.DataFrame:
    """A claim's rows as `claims.evaluate` gives them: (label, estimate, low, high, role, premise),
    each predicting A − B > 0, MDE = the interval's half width."""
    return pd.DataFrame(
        [
            dict(
                claim="Cx",
                statement="A beats B.",
                dataset="mnist",
                verdict=verdict,
                comparison=label,
                kind="accuracy",
                sign=1,
                premise=premise,
                estimate=est,
                low=lo,
                high=hi,
                n=500,
                seeds=3,
                role=role,
                mde=(hi - lo) / 2,
            )
            for label, est, lo, hi, role, premise in comparisons
        ]
    )


def test_first_page_shows_the_comparison_that_decides_each_verdict() -> None:
    d = C.DECIDES
    supported = _claim_rows(
        C.SUPPORTED, ("e1", 0.10, 0.05, 0.15, d, False), ("e2", 0.04, 0.01, 0.07, d, False)
    )
    r, among = rep_claims.deciding_comparison(supported)
    assert r["comparison"] == "e2" and among == "weakest of 2"  # the interval closest to 0
    contradicted = _claim_rows(
        C.CONTRADICTED,
        ("e1", 0.10, 0.05, 0.15, d, False),
        ("e2", -0.04, -0.07, -0.01, d, False),
        ("e3", -0.09, -0.12, -0.06, d, False),
    )
    r, among = rep_claims.deciding_comparison(contradicted)
    assert r["comparison"] == "e3" and among == "2 of 3 against"  # furthest on the wrong side
    inconclusive = _claim_rows(
        C.INCONCLUSIVE,
        ("premise", 0.20, 0.10, 0.30, d, True),
        ("e1", 0.02, -0.01, 0.05, d, False),
        ("e2", 0.01, -0.05, 0.07, d, False),
        ("floor", 0.0, -0.01, 0.01, C.AT_FLOOR, False),
    )
    r, among = rep_claims.deciding_comparison(inconclusive)
    assert r["comparison"] == "e2" and among == "2 of 2 undecided"  # the largest MDE; floor not counted
    table = rep_claims.verdicts_table(pd.concat([inconclusive]), ["mnist"])
    row = table.iloc[0]
    assert row["Deciding comparison"] == "e2 (2 of 2 undecided)" and row["Verdict"] == C.INCONCLUSIVE
    assert row["Effect [interval]"] == "+1.0 [\u22125.0, +7.0] pp" and row["MDE"] == "6.0 pp"
    assert row["n × seeds"] == "500 × 3"


def test_a_claim_missing_on_every_dataset_takes_one_row() -> None:
    tested = pd.concat(
        [
            _claim_rows(C.SUPPORTED, ("e1", 0.10, 0.05, 0.15, C.DECIDES, False)),
            _claim_rows(C.NOT_TESTED, ("", float("nan"), float("nan"), float("nan"), "", False)).assign(
                dataset="cifar10"
            ),
        ]
    )
    missing = _claim_rows(C.NOT_TESTED, ("", float("nan"), float("nan"), float("nan"), "", False)).assign(
        claim="Cy"
    )
    table = rep_claims.verdicts_table(
        pd.concat([tested, missing, missing.assign(dataset="cifar10")]), ["mnist", "cifar10"]
    )
    assert list(zip(table["Claim"].str[:3], table["Dataset"], table["Verdict"], strict=True)) == [
        ("Cx.", "MNIST", C.SUPPORTED),
        ("", "CIFAR-10", C.NOT_TESTED),
        ("Cy.", "all", C.NOT_TESTED),
    ]
