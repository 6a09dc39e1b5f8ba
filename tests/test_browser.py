"""report/index.html in a real browser: headless Debian Chromium driven by Playwright, from file://.

No browser is downloaded: Playwright drives the system's /usr/bin/chromium (.ci/run installs it).
"""

from __future__ import annotations

import re
import shutil

import pytest

import fake_results as fr
from sagr.labels import method_label, sorted_methods
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
SECTIONS = [
    "claims",
    "main",
    "curves",
    "masking",
    "saliency",
    "ablation",
    "cost",
    "attacks",
    "setup",
    "provenance",
]
NUMBER = re.compile(r"^\s*-?\d+(\.\d+)?\b")


@pytest.fixture(scope="module")
def pw():
    """One Playwright driver for the module (a second one cannot start inside the first's loop)."""
    with playwright.sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def page_report(pw, tmp_path_factory: pytest.TempPathFactory):
    """The fake report rendered once and opened at 1280 px; yields (page, problems, html path)."""
    base = tmp_path_factory.mktemp("browser")
    built = _render(base / "results", base / "report", sweep=True)
    index = built["out"] / "index.html"
    problems: list[str] = []
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
        lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None,
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


def test_every_accuracy_cell_holds_a_number_with_its_n(page_report) -> None:
    page, _, _ = page_report
    tables = page.query_selector_all("table[id^='T_headline'], table[id^='T_attacks']")
    assert len(tables) >= 4  # a headline and a per-attack table per dataset of the fake tree
    for table in tables:
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
                n = re.search(r"n\s*=\s*(\d+)", header)
                assert n and int(n.group(1)) > 0, f"{row[0]} / {header}: no n stated"


def test_no_table_scrolls_sideways_at_1280px_and_all_stay_legible(page_report) -> None:
    page, _, _ = page_report
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")  # folds too
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280, "the page itself scrolls sideways"
    report = page.evaluate("""() => Array.from(document.querySelectorAll('table')).map(t => {
        const box = t.parentElement;
        return {id: t.id, wide: t.scrollWidth > box.clientWidth + 1,
                right: t.getBoundingClientRect().right,
                font: parseFloat(getComputedStyle(t.querySelector('td, th')).fontSize)};
    })""")
    assert len(report) > 20
    for t in report:
        assert not t["wide"], f"table {t['id']} is wider than the page: it would scroll sideways"
        assert t["font"] >= 12, f"table {t['id']} font {t['font']}px is too small to read"
        assert t["right"] <= 1280, f"table {t['id']} sticks out of the window"


@pytest.fixture(scope="module")
def first_screen(pw, tmp_path_factory: pytest.TempPathFactory):
    """The report of a one-dataset, seven-method run (the default run's shape) as a reader first sees
    it: a 1280 × 800 window, no scrolling; yields (page, screenshot path)."""
    base = tmp_path_factory.mktemp("screen")
    built = _render(
        base / "results", base / "report", sweep=True, datasets=("mnist",), methods=fr.ALL_METHODS
    )
    shot = base / "first_screen.png"
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto((built["out"] / "index.html").as_uri(), wait_until="load")
    page.screenshot(path=str(shot))
    yield page, shot
    browser.close()


def _box(page, selector: str) -> dict:
    return page.eval_on_selector(
        selector,
        "e => { const r = e.getBoundingClientRect();"
        " return {top: r.top, bottom: r.bottom, left: r.left, right: r.right}; }",
    )


def test_first_screen_shows_title_verdicts_and_headline_table_without_scrolling(first_screen) -> None:
    page, shot = first_screen
    assert shot.stat().st_size > 10_000  # a real screenshot of the first screen
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    title = _box(page, "h1")
    verdicts = _box(page, "#T_claims")
    headline = _box(page, "table[id^='T_headline']")
    for name, box in (("title", title), ("verdicts", verdicts), ("headline table", headline)):
        assert 0 <= box["top"] and box["bottom"] <= 800, f"the {name} is not on the first screen: {box}"
        assert 0 <= box["left"] and box["right"] <= 1280, f"the {name} is cut off at the side: {box}"
    # what the reader sees there: every verdict and every method's clean and worst-case numbers
    verdict_text = page.inner_text("#T_claims")
    assert "supported" in verdict_text or "inconclusive" in verdict_text or "contradicted" in verdict_text
    rows = page.eval_on_selector(
        "table[id^='T_headline']",
        "t => Array.from(t.tBodies[0].rows).map(r => Array.from(r.cells).map(c => c.innerText))",
    )
    assert [r[0].split()[0] for r in rows] == [method_label(m) for m in sorted_methods(fr.ALL_METHODS)]
    assert all(NUMBER.match(c) for r in rows for c in r[1:])
    # the whole headline table, its last method's row included, is above the fold
    last = _box(page, "table[id^='T_headline'] tbody tr:last-child")
    assert last["bottom"] <= 800, f"the headline table's last row is below the first screen: {last}"
    # and every claim's verdict row with it
    last_claim = _box(page, "#T_claims tbody tr:last-child")
    assert last_claim["bottom"] <= 800, f"the last verdict is below the first screen: {last_claim}"
    # the per-attack breakdown is not on the first screen
    assert _box(page, "table[id^='T_attacks']")["top"] > 800
