"""Every table and figure names what it is computed from: its result files (hashes in sources.csv, one
digest a reader can recompute), the commit, and the command that rebuilds it."""

import hashlib
import re

import pandas as pd
import pytest

import fake_results as fr
from sagr.files import sha256, write_json
from sagr.report import build_document, sources
from sagr.report.aggregate import load_maps, summarize, write_figures
from sagr.results import load


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    base = tmp_path_factory.mktemp("sources")
    root = base / "results"
    manifest = fr.write_fake_results(root, sweep=True)
    write_json(root / "benchmark" / "cost.json", fr.fake_benchmark())
    inputs = {**fr.input_files(root, manifest), "benchmark": [root / "benchmark" / "cost.json"]}
    res = load(manifest, inputs)
    summ = summarize(res)
    figs = write_figures(res, summ, load_maps(res), base / "figures")
    doc = build_document(res, summ, figs, settings=fr.fake_config())
    hashes = sources.file_hashes(inputs)
    doc.appendix.append(sources.sources_section(doc, hashes, "abc1234"))
    return doc.number(), hashes, inputs


def test_every_table_and_figure_links_to_its_sources_row(rendered):
    doc, _, _ = rendered
    blocks = doc.blocks("table") + doc.blocks("figure")
    assert len(doc.blocks("figure")) >= 3 and [b for b in blocks if b.source != "sources"] == []
    shown = {row[0].text for row in doc.blocks("table")[-1].rows}
    assert shown == {f"Table {b.number}" for b in doc.blocks("table")[:-1]} | {
        f"Figure {b.number}" for b in doc.blocks("figure")
    }


def test_the_hashes_are_the_files_and_each_digest_recomputes_from_them(rendered):
    doc, hashes, inputs = rendered
    n_files = sum(len(v) for v in inputs.values())
    assert len(hashes) == n_files and all(sha256(p) == h for p, h in zip(hashes["path"], hashes["sha256"]))
    table = doc.blocks("table")[-1]
    for row in table.rows:
        kinds = [
            k for k, name in sources.FILE_NAMES.items() if re.search(rf"\b{re.escape(name)}\b", row[1].text)
        ]
        lines = hashes[hashes["kind"].isin(kinds)].sort_values("path")
        text = "".join(f"{p} {h}\n" for p, h in zip(lines["path"], lines["sha256"]))
        assert row[2].text == hashlib.sha256(text.encode()).hexdigest()[:16], row[0].text


def test_a_table_reads_only_the_kinds_its_section_declares(rendered):
    doc, _, _ = rendered
    rows = pd.DataFrame([[c.text for c in r] for r in doc.blocks("table")[-1].rows])
    headline = doc.front[1].blocks[0]  # the worst case per method and ε: robustness.json only
    assert headline.kind == "table"
    assert rows.loc[rows[0] == f"Table {headline.number}", 1].item().startswith("robustness.json")
