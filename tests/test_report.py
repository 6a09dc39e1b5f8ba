"""The report: tidy tables from the result files, and HTML/LaTeX that show every number honestly."""

from __future__ import annotations

import html as htmlib
import json
import re
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fake_results as fr
from sagr import labels as L
from sagr import presentation as P
from sagr import report, results, stats, sweeps
from sagr import summaries as S
from sagr.files import write_json
from sagr.report import ablation as rep_ablation
from sagr.report import appendix as rep_appendix
from sagr.report import headline as rep_headline
from sagr.report import reference as rep_reference

RECORDS_PER_RUN = 1 + 3 * 3 + 3 + 1 + 2  # clean, 3 attacks × 3 ε, 3 at the largest ε, ε=1, 2 L2
ABLATION_RECORDS = 1 + 2 * 3  # clean, FGSM and PGD at 3 ε
N_MAIN = 2 * 3 * 2  # datasets × methods × seeds
N_RUNS = N_MAIN + fr.OFF_DEFAULT_RUNS  # plus the off-default β points and estimators


def _render(
    root: Path,
    out: Path,
    sweep: bool,
    datasets: tuple[str, ...] = tuple(fr.DATASETS),
    methods: list[str] = fr.METHODS,
) -> dict:
    """Write a fake tree, build the report from the runs of `datasets`, return what the tests read."""
    manifest = [
        e for e in fr.write_fake_results(root, sweep=sweep, methods=methods) if e["dataset"] in datasets
    ]
    write_json(root / "benchmark" / "cost.json", fr.fake_benchmark())
    report.build_report(
        manifest,
        fr.input_files(root, manifest),
        fr.fake_config(),
        out / "index.html",
        out / "report.tex",
        summary_dir=out / "summary",
        departures=["Departure one: 50% of λ_x."],
        benchmark=root / "benchmark" / "cost.json",
    )
    return {
        "root": root,
        "out": out,
        "manifest": manifest,
        "html": (out / "index.html").read_text(),
        "tex": (out / "report.tex").read_text(),
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The fake tree with a β sweep, rendered once for all tests."""
    base = tmp_path_factory.mktemp("report")
    return _render(base / "results", base / "report", sweep=True)


def _section(html: str, anchor: str) -> str:
    """HTML from the element with id=anchor to the next h3/section boundary."""
    start = html.index(f'id="{anchor}"')
    ends = [i for i in (html.find("<h3", start + 1), html.find("</section>", start)) if i > 0]
    return html[start : min(ends)]


def _joined_rows(html: str, key: str) -> dict[str, str]:
    """Row HTML by row label over every part of a table (a wide table is split by columns into
    parts ``key-1``, ``key-2``, …; each part repeats the row labels)."""
    rows: dict[str, str] = {}
    for tbl in re.findall(
        rf'<table class="tbl" id="T_{re.escape(key)}(?:-\d+)?">.*?</table>', html, flags=re.S
    ):
        for row in re.findall(r"<tr>(.*?)</tr>", tbl, flags=re.S):
            first = re.search(r"<t[dh][^>]*>(.*?)</t[dh]>", row, flags=re.S).group(1).strip()
            rows[first] = rows.get(first, "") + row
    assert rows, f"no table {key!r}"
    return rows


def _row(fragment: str, label: str) -> str:
    """The table row (<tr>…</tr>) of `fragment` whose first cell starts with `label`."""
    for row in re.findall(r"<tr>(.*?)</tr>", fragment, flags=re.S):
        first = re.search(r"<t[dh][^>]*>(.*?)</t[dh]>", row, flags=re.S)
        if first and first.group(1).strip().startswith(label):
            return row
    raise AssertionError(f"no row for {label!r}")


def _expected_cells(root: Path, manifest: list[dict], dataset: str, method: str) -> list[tuple]:
    """(value in %, std in %) per attack × ε and worst case, read straight from the JSON files."""
    per: dict[tuple, list[float]] = {}
    for e in manifest:
        if (e["dataset"], e["method"], e["main"]) != (dataset, method, True):
            continue
        rob = json.loads((root / dataset / e["run"] / "robustness.json").read_text())
        for r in rob["records"]:
            per.setdefault((r["attack"], r["eps"]), []).append(r["accuracy"])
        for w in rob["worst_case"]:
            if w["eps"] < 1:  # ε = 1 is the unbounded check, not a budget
                per.setdefault(("worst", w["eps"]), []).append(w["accuracy"])
    return [(key, 100 * statistics.mean(v), 100 * statistics.stdev(v)) for key, v in per.items()]


def _load(built: dict) -> results.Results:
    return results.load(built["manifest"], fr.input_files(built["root"], built["manifest"]))


def test_load_gives_one_row_per_record(built: dict) -> None:
    res = _load(built)
    assert len(res.training) == len(res.saliency) == len(res.runs) == N_RUNS
    assert len(res.records) == N_MAIN * RECORDS_PER_RUN + fr.OFF_DEFAULT_RUNS * ABLATION_RECORDS
    assert len(res.worst_case) == N_MAIN * 4 + fr.OFF_DEFAULT_RUNS * 3  # 3 budgets and ε = 1 (main runs)
    assert len(res.masking) == N_RUNS * len(fr.CHECKS)
    assert len(res.jobs) == N_RUNS * 3
    assert len(res.sweeps) == len(fr.BETA_SWEEP) + len(fr.SEEDS) * len(fr.ESTIMATOR_SWEEP)
    assert len(res.correct) == N_RUNS
    rob = res.records
    # PGD-AT's training eps lives in hp_eps and never overwrites the attack's eps
    pgd_at = rob[(rob["method"] == "pgd_at") & (rob["attack"] == "fgsm")]
    assert set(pgd_at["hp_eps"]) == {0.3} and len(set(pgd_at["eps"])) == 6
    assert {"hp_lam", "hp_beta", "hp_form", "hp_estimator"} <= set(rob.columns)
    # files from before `points`/`n_correct` get them derived from n and the accuracy
    aa = rob[rob["attack"] == "autoattack"]
    assert set(aa["points"]) == {"subset"} and set(rob[rob["attack"] == "pgd"]["points"]) == {"all"}
    assert (aa["n_correct"] == (aa["accuracy"] * aa["n"]).round()).all()


def _cell(summary: pd.DataFrame, **key: object) -> pd.Series:
    m = np.ones(len(summary), bool)
    for k, v in key.items():
        m &= (summary[k] == v).to_numpy()
    assert m.sum() == 1, key
    return summary[m].iloc[0]


def test_mean_and_std_over_seeds_match_known_numbers(built: dict) -> None:
    summary = S.robustness_summary(_load(built))
    row = _cell(summary, dataset="mnist", method="sagr", attack="pgd", norm="linf", eps=0.1)
    # seeds 0 and 1 give 0.55 and 0.59; the off-default β runs (seed 0 too) must not enter
    assert row["mean"] == pytest.approx(0.57)
    assert row["sd"] == pytest.approx(0.04 / 2**0.5)
    assert row["seeds"] == 2 and row["n"] == fr.N_EVAL
    lo, hi = stats.clopper_pearson(0.57 * fr.N_EVAL, fr.N_EVAL)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((lo, hi))
    table = rep_headline.main_table(summary, "mnist", _load(built).suite())
    assert table.loc["SAGR", ("PGD", "ε=0.1\nn=500")] == (f"57.0 ± 2.8 [{100 * lo:.1f}, {100 * hi:.1f}]")
    assert not any(c[1].startswith("ε=1\n") for c in table.columns if c[0] == "Worst case")
    aa = _cell(summary, dataset="mnist", method="pgd_at", attack="autoattack", eps=0.3)
    assert aa["points"] == "subset" and aa["n"] == fr.N_SUBSET


def test_single_seed_drops_the_plus_minus_and_zero_reads_as_an_interval() -> None:
    assert P.fmt_estimate(0.5, float("nan"), 1, float("nan"), float("nan")) == "50.0"
    assert P.fmt_estimate(0.5, 0.01, 2, 0.45, 0.55) == "50.0 ± 1.0 [45.0, 55.0]"
    # 0 of 400 points: the interval states what "0 %" can mean, never "± 0.0"
    assert P.fmt_estimate(0.0, float("nan"), 1, *stats.clopper_pearson(0, 400)) == "0.0 [0.0, 0.9]"
    assert P.fmt_estimate(1.0, float("nan"), 1, *stats.clopper_pearson(400, 400)) == ("100.0 [99.1, 100.0]")


def test_every_method_attack_eps_number_appears_in_html_and_tex(built: dict) -> None:
    html, tex = built["html"], built["tex"]
    for dataset in fr.DATASETS:
        rows = _joined_rows(html, f"attacks-{dataset}")  # the appendix's per-attack tables
        for method in fr.METHODS:
            row = next(
                r
                for label, r in rows.items()
                if label.startswith(L.method_label(method) + " ") or label == L.method_label(method)
            )
            for key, mean, std in _expected_cells(built["root"], built["manifest"], dataset, method):
                assert f"{mean:.1f} ± {std:.1f}" in row, (dataset, method, key)
                assert f"{mean:.1f} $\\pm$ {std:.1f}" in tex, (dataset, method, key)


def test_subset_attacks_state_n_and_their_interval(built: dict) -> None:
    rows = _joined_rows(built["html"], "attacks-mnist")
    assert "ε=0.3<br>n=200 · subset" in "".join(rows.values())
    # AutoAttack on PGD-AT: 0.49 and 0.51 on 200 points, 100 of 200 on average
    lo, hi = stats.clopper_pearson(100, 200)
    assert f"50.0 ± 1.4 [{100 * lo:.1f}, {100 * hi:.1f}]" in rows["PGD-AT"]


def _header_rows(table_html: str) -> list[list[str]]:
    head = re.search(r"<thead>(.*?)</thead>", table_html, flags=re.S).group(1)
    return [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<th[^>]*>(.*?)</th>", r, flags=re.S)]
        for r in re.findall(r"<tr>(.*?)</tr>", head, flags=re.S)
    ]


def _body_cells(table_html: str) -> list[list[str]]:
    body = re.search(r"<tbody>(.*?)</tbody>", table_html, flags=re.S).group(1)
    return [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, flags=re.S)]
        for r in re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)
    ]


def _tables(html: str, anchor: str) -> list[str]:
    start = html.index(f'id="{anchor}"')
    end = html.index("</section>", start)
    return re.findall(r"<table.*?</table>", html[start:end], flags=re.S)


def test_no_report_cell_lacks_its_n(built: dict) -> None:
    html = built["html"]
    checked = 0
    # main tables: every number column states n in its header (or every cell its own n)
    for tbl in _tables(html, "main") + _tables(html, "attacks"):
        headers = _header_rows(tbl)[-1]
        for j, cells in enumerate(zip(*_body_cells(tbl), strict=True)):
            if j == 0:  # the method label
                continue
            assert "n=" in headers[j] or all("n=" in c for c in cells if c != P.MISSING), headers[j]
            checked += 1
    # paired comparisons: n in every cell
    for tbl in _tables(html, "paired"):
        for row in _body_cells(tbl):
            assert all("n=" in c for c in row[1:] if c != P.MISSING), row
            checked += 1
    # ablation: n in every number column's header
    for tbl in _tables(html, "ablation"):
        for h in _header_rows(tbl)[-1][2:]:
            assert "n=" in h or h == "Seeds", h
            checked += 1
    # saliency: a column of n per row
    sal = next(t for t in _tables(html, "saliency") if "n (images)" in t)
    assert "n (images)" in _header_rows(sal)[-1]
    assert all(row[-1].startswith("n=") for row in _body_cells(sal))
    assert checked > 40


def test_how_to_read_takes_its_n_from_the_data(built: dict) -> None:
    howto = built["html"][built["html"].index('id="howto"') :]
    howto = howto[: howto.index("</section>")]
    assert f"MNIST: n = {fr.N_EVAL}" in howto and "n=200" not in howto
    assert "seed-to-seed spread" in howto and "point-sampling error" in howto


def test_failed_masking_check_is_flagged_next_to_its_method(built: dict) -> None:
    html = built["html"]
    mnist, cifar = _joined_rows(html, "headline-mnist"), _joined_rows(html, "headline-cifar10")
    assert '<td class="l fail">SAGR ⚠</td>' in mnist["SAGR ⚠"]
    assert "⚠" not in mnist["PGD-AT"] and "SAGR" in cifar
    main = _section(html, "main")
    footnote = main[main.index('<ul class="note">') :]
    assert "⚠ SAGR" in footnote and fr.CHECKS["monotone_eps"] in footnote
    # the masking summary counts the failure per method in red, and lists it in full below
    masking = html[html.index('id="masking"') : html.index('id="saliency"')]
    monotone = _row(masking[masking.index('id="T_masking-summary-mnist"') :], fr.CHECKS["monotone_eps"])
    m = _load(built).masking
    m = m[(m["dataset"] == "mnist") & (m["method"] == "sagr") & (m["check"] == "monotone_eps")]
    failed_n, passed_n = int((m["status"] == "fail").sum()), int((m["status"] == "pass").sum())
    assert failed_n >= 1  # the fake's failed check (its off-default runs of that seed fail alike)
    assert f'<td class="l fail">{failed_n} failed<br>{passed_n} passed</td>' in monotone
    failed = masking[masking.index('id="T_masking-failed"') :]
    assert fr.CHECKS["monotone_eps"] in failed and "seed1" in failed.replace("<wbr>", "")
    assert "$^{\\dagger}$" in built["tex"]


def test_ablation_section_appears_only_with_sweeps(built: dict, tmp_path: Path) -> None:
    assert 'id="ablation"' in built["html"] and "\\label{sec:ablation}" in built["tex"]
    assert (built["out"] / "figures" / "ablation_beta.png").is_file()
    assert (built["out"] / "figures" / "ablation_beta.pdf").is_file()
    plain = _render(tmp_path / "results", tmp_path / "report", sweep=False)
    assert 'id="ablation"' not in plain["html"] and "Ablation" not in plain["tex"]
    assert not (tmp_path / "report" / "figures" / "ablation_beta.png").exists()


def test_missing_result_file_names_the_file_and_run(tmp_path: Path) -> None:
    manifest = fr.write_fake_results(tmp_path, sweep=False)
    victim = manifest[3]
    (tmp_path / victim["dataset"] / victim["run"] / "saliency.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"saliency\.json.*" + re.escape(victim["run"])):
        results.load(manifest, fr.input_files(tmp_path, manifest))
    files = fr.input_files(tmp_path, manifest)
    files["train"] = files["train"][1:]  # the rule forgot a run's file
    with pytest.raises(FileNotFoundError, match=r"lists no train\.json.*" + re.escape(manifest[0]["run"])):
        results.load(manifest, files)


def test_html_is_self_contained_with_relative_figures(built: dict) -> None:
    html = built["html"]
    assert "http://" not in html.replace("http://www.w3", "") and "https://" not in html
    for src in re.findall(r'src="([^"]+)"', html):
        assert not src.startswith("/") and (built["out"] / src).is_file()


def test_tex_uses_booktabs_and_escapes_special_characters(built: dict) -> None:
    tex = built["tex"]
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex
    # bookmarks (a heading's second form) are the one place for Unicode
    body = re.sub(r"(\\texorpdfstring\{(?:[^{}]|\{[^{}]*\})*\})\{[^{}]*\}", r"\1", tex)
    body = re.sub(r"\\includegraphics.*", "", body)
    assert not re.search(r"[^\x00-\x7f]", body), "non-ASCII character pdflatex may reject"
    assert not re.search(r"(?<![\\$])_", re.sub(r"\$[^$]*\$", "", body)), "unescaped underscore"
    assert "50\\% of $\\lambda$\\_x" in body  # the departure, verbatim in meaning, escaped


def test_write_tables_writes_csv_summaries(built: dict) -> None:
    names = {p.stem for p in (built["out"] / "summary").glob("*.csv")}
    assert {
        "records",
        "worst_case",
        "masking",
        "saliency",
        "training",
        "jobs",
        "runs",
        "robustness_summary",
        "paired_differences",
        "claims",
        "ablation_summary",
        "cost",
        "cost_noise",
    } <= names
    cost = pd.read_csv(built["out"] / "summary" / "cost.csv")
    # plain columns: what each row was measured on, the reference file for a committed one
    assert set(cost["arch"]) == {"small_cnn", "preact_resnet18"}
    assert set(cost.loc[cost["arch"] == "preact_resnet18", "reference"]) == {fr.REFERENCE_FILE}
    assert cost.loc[cost["arch"] == "small_cnn", "reference"].isna().all()  # "" in the JSON


def _cost_tables(html: str) -> dict[str, str]:
    """The cost section's step tables by their caption (architecture, device, threads, batch, source)."""
    section = html[html.index('id="cost"') : html.index("</section>", html.index('id="cost"'))]
    section = re.sub(r' <a class="src"[^>]*>.*?</a>', "", section)  # each caption's link to its sources
    parts = re.split(r"<figcaption>Table \d+\. ", section)[1:]
    return {htmlib.unescape(p[: p.index("</figcaption>")]): p[: p.index("</table>")] for p in parts}


def test_cost_section_shows_one_ratio_table_per_architecture_and_device(built: dict) -> None:
    bench = fr.fake_benchmark()
    tables = _cost_tables(built["html"])
    assert [t.split(" (")[0] for t in tables] == [
        "Step cost: small CNN, CPU · cpu",
        "Step cost: PreActResNet-18, GPU · cuda:NVIDIA H200, 1 thread(s), batch 128",
    ]
    assert list(tables)[0].startswith(
        "Step cost: small CNN, CPU · cpu (x86_64, 1 threads), 1 thread(s), batch 128"
    )
    for (heading, fragment), arch in zip(tables.items(), ["small_cnn", "preact_resnet18"], strict=True):
        rows = [r for r in bench["rows"] if r["arch"] == arch]
        cells = re.findall(r"<tr>(.*?)</tr>", fragment, flags=re.S)[1:]  # the header row first
        assert len(cells) == len(rows), heading
        for r in rows:  # every variant's ratio with its IQR, in its own architecture's table only
            q1, q3 = r["ratio_iqr"]
            row = next(c for c in cells if f">{r['variant'] or P.MISSING}<" in c)
            assert f">{r['ratio_to_standard']:.2f}<" in row and f">{q1:.2f}–{q3:.2f}<" in row
    assert "6.28" in tables[list(tables)[1]] and "6.28" not in tables[list(tables)[0]]
    for heading in ("small CNN, CPU", "PreActResNet-18, GPU"):
        assert f"\\caption{{Step cost: {heading}" in built["tex"]


def test_cost_rows_from_a_reference_file_say_so(built: dict) -> None:
    own, ref = _cost_tables(built["html"])
    assert own.endswith("(this run)") and fr.REFERENCE_FILE not in own
    assert f"(reference file {fr.REFERENCE_FILE} (measured at commit {fr.REFERENCE_COMMIT[:8]}" in ref
    assert "uncommitted changes" in ref  # the reference was measured on a dirty tree: said, not hidden
    tex = built["tex"].replace("\\_", "_")
    assert f"(reference file {fr.REFERENCE_FILE} (measured at commit" in tex


def test_noise_table_shows_each_estimator_per_draw_sd_and_its_draws(built: dict) -> None:
    html = built["html"]
    noise = html[html.index('id="cost-noise"') : html.index("</table>", html.index('id="cost-noise"'))]
    rows = [r.replace("<wbr>", "") for r in re.findall(r"<tr>(.*?)</tr>", noise, flags=re.S)[1:]]
    expected = fr.fake_benchmark()["noise"]
    assert len(rows) == len(expected) == 4
    for r, row in zip(expected, rows, strict=True):
        q1, q3 = r["rel_sd_per_draw_iqr"]
        assert f">{L.estimator_label(r['estimator'])}<" in row
        assert f">{r['rel_sd_per_draw_median']:.3f} [{q1:.3f}, {q3:.3f}]<" in row
        assert f">{r['draws']}<" in row  # n draws
        name = fr.REFERENCE_FILE.rsplit("/", 1)[-1]
        assert (f">reference {name}<" in row) == (r["arch"] == "preact_resnet18")
        assert (">this run<" in row) == (r["arch"] == "small_cnn")
    assert "Noise of one estimator draw" in built["tex"]


def test_ablation_uses_one_suite_on_the_same_points_for_every_point(built: dict) -> None:
    points = sweeps.ablation_points(_load(built))
    worst = points[(points["metric"] == L.WORST) & (points["param"] == "beta")]
    assert sorted(worst["value"]) == fr.BETA_SWEEP  # the default point (a main run) included
    # the default point ran the full suite, the others only the ablation attacks: all are
    # scored with the attacks every point ran, on the same points
    assert set(worst["suite"]) == {"fgsm,pgd"}
    assert worst["n"].nunique() == 1 and worst["eps"].nunique() == 1
    default = worst[worst["value"] == 0.5].iloc[0]
    expected = min(fr.accuracy("mnist", "sagr", 0, a, 2) for a in ("fgsm", "pgd"))
    assert default["accuracy"] == pytest.approx(expected)
    summary = sweeps.ablation_summary(points)
    table = rep_ablation.ablation_table(summary, "beta", ["mnist"])
    assert any(c.startswith("Worst case ε=0.3 (%) · n=500") for c in table.columns)


def test_ablation_axes_label_only_the_swept_values(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    from sagr import figures

    fig, ax = plt.subplots()
    xs = np.array([0.03, 0.1, 0.3, 1.0, 3.0, 10.0])
    ax.plot(xs, xs)
    figures._sweep_axis(ax, xs)
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert ax.get_xscale() == "log" and labels == ["0.03", "0.1", "0.3", "1", "3", "10"]
    assert not [t for t in ax.xaxis.get_minor_ticks() if t.label1.get_text()]
    plt.close(fig)


def test_diverged_run_is_listed_and_gets_no_numbers(tmp_path: Path) -> None:
    root = tmp_path / "results"
    manifest = fr.write_fake_results(root, sweep=False)
    victim = next(e for e in manifest if (e["dataset"], e["method"], e["seed"]) == ("mnist", "pgd_at", 1))
    path = root / victim["dataset"] / victim["run"] / "train.json"
    train = json.loads(path.read_text())
    write_json(path, {**train, "status": "diverged", "diverged_reason": "loss is NaN at epoch 2"})
    (root / victim["dataset"] / victim["run"] / "robustness.json").unlink()  # never evaluated
    res = results.load(manifest, fr.input_files(root, manifest))
    key = (victim["dataset"], victim["run"])
    for table in (res.records, res.worst_case, res.saliency, res.masking):
        assert key not in set(zip(table["dataset"], table["run"], strict=True))
    assert set(res.failed_runs()["run"]) == {victim["run"]}
    summary = S.robustness_summary(res)
    assert _cell(summary, dataset="mnist", method="pgd_at", attack="pgd", eps=0.1)["seeds"] == 1
    out = tmp_path / "report"
    report.build_report(
        manifest, fr.input_files(root, manifest), fr.fake_config(), out / "index.html", out / "report.tex"
    )
    failed = _section((out / "index.html").read_text(), "failed").replace("<wbr>", "")
    assert victim["run"] in failed and "loss is NaN at epoch 2" in failed


def test_masking_p_values_and_reference_autoattack_are_shown(built: dict) -> None:
    html = built["html"]
    masking = html[html.index('id="masking"') : html.index('id="saliency"')]
    assert "α = 0.05" in masking
    rows = [
        r
        for r in re.findall(r"<tr>(.*?)</tr>", _tables(built["html"], "masking-all")[0], flags=re.S)
        if fr.CHECKS["blackbox_not_stronger"] in r
    ]
    assert len(rows) == 2 * len(fr.METHODS) + fr.OFF_DEFAULT_RUNS  # off-default sweep points too
    assert all(re.search(r">0\.2[56]<", r) and ">0.05<" in r and ">200<" in r for r in rows)
    ref = masking[masking.index('id="reference"') :]
    assert '<span class="fail">1 differs</span>' in ref
    table = rep_reference.reference_table(_load(built))
    flagged = table[table["Verdict"] == rep_reference.DIFFERS]
    assert list(zip(flagged["Method"], flagged["Seed"], strict=True)) == [("PGD-AT", 1)]
    assert (table["n"] == fr.N_SUBSET).all()


def test_worst_case_without_apgd_is_marked(built: dict, tmp_path: Path) -> None:
    summary = S.robustness_summary(_load(built))
    worst = [c[1] for c in rep_headline.main_table(summary, "mnist", {}).columns if c[0] == "Worst case"]
    # the fake suite runs AutoAttack at the largest ε only: below it the worst case is PGD-strength
    assert [P.PGD_ONLY in c for c in worst] == [True, True, False]
    # a file that states `apgd_strength` is believed over the attack kinds
    manifest = fr.write_fake_results(tmp_path, sweep=False)
    for e in manifest:
        path = tmp_path / e["dataset"] / e["run"] / "robustness.json"
        rob = json.loads(path.read_text())
        for w in rob["worst_case"]:
            w["apgd_strength"] = True
        write_json(path, rob)
    summary = S.robustness_summary(results.load(manifest, fr.input_files(tmp_path, manifest)))
    assert not any(P.PGD_ONLY in c[1] for c in rep_headline.main_table(summary, "mnist", {}).columns)


def _points_only(records: pd.DataFrame, correct: dict) -> results.Results:
    """Results holding only attack records and per-point correctness (what worst_points reads)."""
    empty = pd.DataFrame()
    tables = dict.fromkeys(
        (
            "runs",
            "worst_case",
            "masking",
            "reference",
            "saliency",
            "training",
            "evaluation",
            "jobs",
            "sweeps",
        ),
        empty,
    )
    return results.Results(records=records, correct=correct, **tables)


def test_worst_case_per_point_over_a_cascade_keeps_points_broken_earlier() -> None:
    recs = pd.DataFrame(
        {
            "dataset": "d",
            "run": "r",
            "attack": ["fgsm", "apgd", "sq"],
            "eps": 0.3,
            "points": ["all", "cascade", "subset"],
            "role": ["baseline", "strong", "blackbox"],
        }
    )
    res = _points_only(
        recs,
        {
            ("d", "r"): {
                "fgsm@0.3": np.array([1, 0, 1, 1], np.int8),
                "apgd@0.3": np.array([1, -1, 0, -1], np.int8),
                "sq@0.3": np.array([1, 1, -1, -1], np.int8),
            }
        },
    )
    # the cascade skipped point 1 (FGSM broke it) and never reached point 3: that one is unknown
    w = S.worst_points(res, "d", "r", "linf", 0.3, ["fgsm", "apgd"])
    np.testing.assert_array_equal(w, [1, 0, 0, np.nan])
    # a prefix subset counts a point only where every attack ran on it
    w = S.worst_points(res, "d", "r", "linf", 0.3, ["fgsm", "sq"])
    np.testing.assert_array_equal(w, [1, 0, np.nan, np.nan])


def test_a_reference_cross_check_on_a_prefix_of_the_pool_leaves_the_other_points_counted() -> None:
    # The reference runs on the first points of the cascade's pool only (as the evaluation's own
    # worst case counts it): a point beyond that prefix is not "not evaluated".
    recs = pd.DataFrame(
        {
            "dataset": "d",
            "run": "r",
            "attack": ["pgd", "ref", "apgd"],
            "eps": 0.3,
            "points": ["all", "cascade", "cascade"],
            "role": ["baseline", "reference", "strong"],
        }
    )
    res = _points_only(
        recs,
        {
            ("d", "r"): {
                "pgd@0.3": np.array([1, 0, 1, 1, 1], np.int8),
                "ref@0.3": np.array([1, -1, 0, -1, -1], np.int8),  # its prefix: points 0 and 2
                "apgd@0.3": np.array([1, -1, 1, 1, -1], np.int8),
            }
        },
    )
    w = S.worst_points(res, "d", "r", "linf", 0.3, ["pgd", "ref", "apgd"])
    # point 3: beyond the reference's prefix, APGD ran on it: robust; point 4: APGD never reached it
    np.testing.assert_array_equal(w, [1, 0, 0, 1, np.nan])


def _worst_over_ablation_suite(seed: int, eps_index: int, estimator: str) -> float:
    """The fake worst case of SAGR on MNIST over FGSM and PGD, the attacks every sweep run ran."""
    return min(fr.accuracy("mnist", "sagr", seed, a, eps_index, estimator=estimator) for a in ("fgsm", "pgd"))


def test_estimator_check_puts_each_eps_worst_case_against_the_projection_interval(built: dict) -> None:
    check = sweeps.estimator_check(_load(built))
    eps = fr.DATASETS["mnist"]["eps"]
    assert len(check) == len(eps) * len(fr.ESTIMATOR_SWEEP)
    assert set(check["default"]) == {"projection"}  # the main runs' estimator: the config's default
    assert (
        set(check["suite"]) == {"fgsm,pgd"} and set(check["n"]) == {fr.N_EVAL} and set(check["seeds"]) == {2}
    )
    for i, e in enumerate(eps):
        at = check[np.isclose(check["eps"], e)].set_index("estimator")
        for estimator in fr.ESTIMATOR_SWEEP:
            mean = statistics.mean(_worst_over_ablation_suite(s, i, estimator) for s in fr.SEEDS)
            assert at.loc[estimator, "mean"] == pytest.approx(mean)
        lo, hi = stats.clopper_pearson(at.loc["projection", "mean"] * fr.N_EVAL, fr.N_EVAL)
        assert (at.loc["jvp", "base_low"], at.loc["jvp", "base_high"]) == pytest.approx((lo, hi))
        assert at.loc["jvp", "within"] == (lo <= at.loc["jvp", "mean"] <= hi)
        assert pd.isna(at.loc["projection", "within"])
    # the fake's jvp falls outside projection's interval at the middle ε only
    jvp = check[check["estimator"] == "jvp"].sort_values("eps")
    assert list(jvp["within"]) == [True, False, True]


def test_report_states_the_default_estimator_and_where_jvp_leaves_the_interval(
    built: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    html = built["html"]
    part = html[
        html.index('id="cost-estimator"') : html.index("</section>", html.index('id="cost-estimator"'))
    ]
    projection, jvp = L.estimator_label("projection"), L.estimator_label("jvp")
    assert f"default estimator is <b>{projection}</b>" in part
    assert f'{jvp}: <span class="fail">outside</span> the {projection} interval at ε = 0.2.' in part
    row = _row(part[part.index("<tbody") :], "MNIST")  # the table: ε, estimator, worst case, verdict
    assert ">0.1<" in row and f">{projection} (default)<" in row
    assert f"\\textbf{{outside}}}} the {projection} interval at $\\varepsilon$ = 0.2." in built["tex"]
    # The statement follows the result files: with jvp's worst case equal to projection's, it is inside.
    monkeypatch.setattr(fr, "JVP_SHIFT", [0.0, 0.0, 0.0])
    same = _render(tmp_path / "results", tmp_path / "report", sweep=True)["html"]
    assert f"{jvp}: inside the {projection} interval at every ε (0.1, 0.2, 0.3)." in same


def test_estimator_check_takes_each_runs_own_worst_case_when_all_ran_the_same_attacks(tmp_path: Path) -> None:
    manifest = fr.fake_manifest(sweep=True)
    for entry in manifest:
        entry["full_suite"] = entry["hparams"].get("estimator") == "jvp"  # the jvp runs: every attack too
        fr.write_run(tmp_path, entry)
    check = sweeps.estimator_check(results.load(manifest, fr.input_files(tmp_path, manifest)))
    eps = fr.DATASETS["mnist"]["eps"]
    for i, e in enumerate(eps):
        attacks = fr.LINF_ALL_EPS + (fr.LINF_LARGEST if i == len(eps) - 1 else [])
        at = check[np.isclose(check["eps"], e)].set_index("estimator")
        assert set(at["suite"]) == {",".join(sorted(attacks))}  # the runs' own worst case, not FGSM+PGD
        assert set(at["n"]) == {fr.N_SUBSET if i == len(eps) - 1 else fr.N_EVAL}
        for estimator in fr.ESTIMATOR_SWEEP:
            expected = statistics.mean(
                min(fr.accuracy("mnist", "sagr", s, a, i, estimator=estimator) for a in attacks)
                for s in fr.SEEDS
            )
            assert at.loc[estimator, "mean"] == pytest.approx(expected)


def test_setup_paragraph_describes_the_suite_the_records_were_evaluated_with(built: dict) -> None:
    # the fake config has no `attacks`: every word of the paragraph comes from the records' params
    assert "attacks" not in fr.fake_config()
    setup = _section(built["html"], "setup")
    assert "pgd_strong (PGD, strong, on every point)" in setup
    assert f"square (Square, blackbox, on the first {fr.N_SUBSET} points)" in setup
    assert "autoattack (AutoAttack" in setup


def test_attack_specs_are_the_recorded_params_and_none_where_records_disagree(built: dict) -> None:
    res = _load(built)
    specs = res.attack_specs()
    assert specs == {a: s for a, s in fr.ATTACK_SPECS.items() if a in specs}
    assert set(specs) == set(fr.ATTACK_SPECS)
    # one model evaluated with more PGD steps (a config changed between runs)
    rows = res.records.index[res.records["attack"] == "pgd"]
    res.records.loc[rows[0], "params"] = json.dumps({**fr.ATTACK_SPECS["pgd"], "steps": 41})
    specs = res.attack_specs()
    assert specs["pgd"] is None and specs["fgsm"] == fr.ATTACK_SPECS["fgsm"]
    # and one whose records state no parameters (hand-made, or from before specs were recorded)
    res.records.loc[res.records["attack"] == "fgsm", "params"] = "{}"
    texts = [str(b) for b in rep_appendix.setup_appendix(res).blocks]
    assert any("more than one setting of pgd:" in t for t in texts)
    assert any("The records of fgsm do not state the attack's parameters." in t for t in texts)
    assert not any("fgsm (FGSM" in t for t in texts) and any(
        "cw_inf (CW-∞, baseline, on every point)" in t for t in texts
    )
