"""report/index.html in a real browser: headless Debian Chromium driven by Playwright, from file://.

No browser is downloaded: Playwright drives the system's /usr/bin/chromium (.ci/run installs it).
"""

from __future__ import annotations

import re
import shutil

import pytest

from test_report import _render

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip(
    "playwright.sync_api", reason="playwright not installed (pip install playwright)"
)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (.ci/run installs it)")

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SECTIONS = ["main", "curves", "masking", "saliency", "ablation", "cost", "setup", "departures", "provenance"]
NUMBER = re.compile(r"^\s*-?\d+(\.\d+)?\b")


@pytest.fixture(scope="module")
def page_report(tmp_path_factory: pytest.TempPathFactory):
    """The fake report rendered once and opened at 1280 px; yields (page, problems, html path)."""
    base = tmp_path_factory.mktemp("browser")
    built = _render(base / "results", base / "report", sweep=True)
    index = built["out"] / "index.html"
    problems: list[str] = []
    with playwright.sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(base / "profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        page = ctx.new_page()
        page.on(
            "console",
            lambda m: (
                problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None
            ),
        )
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
        page.goto(index.as_uri(), wait_until="load")
        yield page, problems, index
        ctx.close()


def test_no_console_errors_or_failed_requests(page_report) -> None:
    page, problems, _ = page_report
    page.wait_for_timeout(200)
    assert problems == []


def test_every_image_loads(page_report) -> None:
    page, _, _ = page_report
    images = page.eval_on_selector_all(
        "img", "els => els.map(e => [e.getAttribute('src'), e.complete, e.naturalWidth])"
    )
    assert len(images) >= 3  # ε curves, saliency grids, ablation plots
    broken = [src for src, complete, width in images if not complete or width == 0]
    assert broken == []


def test_every_section_is_present_and_every_contents_link_resolves(page_report) -> None:
    page, _, _ = page_report
    for sid in SECTIONS:
        text = page.inner_text(f"section#{sid}") if page.query_selector(f"section#{sid}") else ""
        heading = page.inner_text(f"section#{sid} h2") if text else ""
        assert len(text) > len(heading) + 20, f"section {sid!r} missing or empty"
    targets = page.eval_on_selector_all("nav a[href^='#']", "els => els.map(e => e.hash.slice(1))")
    assert targets, "no contents links"
    missing = [t for t in targets if page.query_selector(f"[id='{t}']") is None]
    assert missing == []


def test_every_main_table_cell_holds_a_number_with_its_n(page_report) -> None:
    page, _, _ = page_report
    tables = page.query_selector_all("section#main table[id^='T_main']")
    assert len(tables) == 2  # one per dataset of the fake tree
    for table in tables:
        # The note above the table states the evaluation set size for columns without their own n.
        note = table.evaluate(
            "t => { let s = t.closest('.scroll') || t; let p = s.previousElementSibling;"
            " while (p && !/n\\s*=/.test(p.innerText)) p = p.previousElementSibling;"
            " return p ? p.innerText : ''; }"
        )
        headers = table.evaluate(
            "t => { const rows = t.tHead.rows; const last = rows[rows.length - 1];"
            " return Array.from(last.cells).map(c => c.innerText); }"
        )
        rows = table.evaluate(
            "t => Array.from(t.tBodies[0].rows).map(r => Array.from(r.cells).map(c => c.innerText))"
        )
        assert rows
        for row in rows:
            assert len(row) == len(headers), (row, headers)
            for header, cell in zip(headers[1:], row[1:]):
                assert NUMBER.match(cell), f"{row[0]} / {header}: {cell!r} is not a number"
                n = re.search(r"n\s*=\s*(\d+)", header) or re.search(r"n\s*=\s*(\d+)", note)
                assert n and int(n.group(1)) > 0, f"{row[0]} / {header}: no n stated"


def test_wide_tables_scroll_inside_the_page_at_1280px_and_stay_legible(page_report) -> None:
    page, _, _ = page_report
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280, "the page itself scrolls sideways"
    report = page.evaluate("""() => Array.from(document.querySelectorAll('table')).map(t => {
        const box = t.parentElement, style = getComputedStyle(box);
        return {id: t.id, wide: t.scrollWidth > box.clientWidth + 1,
                scrolls: ['auto', 'scroll'].includes(style.overflowX),
                right: t.getBoundingClientRect().right,
                font: parseFloat(getComputedStyle(t.querySelector('td, th')).fontSize)};
    })""")
    assert report
    for t in report:
        assert not t["wide"] or t["scrolls"], f"table {t['id']} overflows without a scroll box"
        assert t["font"] >= 11, f"table {t['id']} font {t['font']}px is too small to read"
        if not t["wide"]:
            assert t["right"] <= 1280, f"table {t['id']} sticks out of the window"
