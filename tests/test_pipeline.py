"""The whole DAG on config/smoke.yaml, in a temporary directory, as a user runs it."""

import json
import os
import re
import shutil
import subprocess

import pandas as pd
import pytest
import yaml

import sagr
from conftest import REPO, mirror_dir, planned_jobs, require_mnist, sagr_cli, snakemake_cmd
from sagr.attacks import resolve_budgets
from sagr.files import PREVIOUS_DIR, read_json, sha256, sidecar
from sagr.presentation import fmt_estimate
from sagr.runs import encode_run

pytestmark = pytest.mark.slow


def snakemake(workdir, *args, configfile=REPO / "config" / "smoke.yaml"):
    env = {**os.environ, "SAGR_DATA_MIRROR": str(mirror_dir())}
    cmd = snakemake_cmd(
        "-d",
        str(workdir),
        "--configfile",
        str(configfile),
        "--cores",
        "2",
        *args,
    )
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    require_mnist()
    workdir = tmp_path_factory.mktemp("smoke")
    snakemake(workdir)
    with open(REPO / "config" / "smoke.yaml") as fh:
        return workdir, yaml.safe_load(fh)


def test_report_holds_a_number_for_every_method_attack_and_eps(smoke_run):
    workdir, config = smoke_run
    html = (workdir / "report" / "index.html").read_text()
    tex = (workdir / "report" / "report.tex").read_text()
    summary = pd.read_csv(workdir / "results" / "summary" / "robustness_summary.csv")
    dcfg = config["datasets"]["mnist"]
    for method in config["methods"]:
        for attack, spec in config["attacks"].items():
            for eps in resolve_budgets(spec, dcfg["eps"], dcfg["eps_l2"]):
                row = summary[
                    (summary.method == method) & (summary.attack == attack) & (abs(summary.eps - eps) < 1e-9)
                ]
                assert len(row) == 1, (method, attack, eps)
                r = row.iloc[0]
                if int(r["n"]) == 0:  # a cascade attack that found no point left to attack
                    continue
                assert 0.0 <= float(r["mean"]) <= 1.0
                cell = fmt_estimate(r["mean"], r["sd"], int(r["seeds"]), r["ci_low"], r["ci_high"])
                assert cell in html and "[" in cell, (method, attack, eps)
    assert "Saliency" in html and "Gini" in html and "Provenance" in html
    assert 'id="claims"' in html and 'id="paired"' in html and 'id="failed"' in html
    assert r"\toprule" in tex and r"\begin{document}" in tex


@pytest.mark.skipif(
    shutil.which("latexmk") is None or shutil.which("pdftotext") is None,
    reason="latexmk/pdftotext not installed (.ci/run installs them)",
)
def test_smoke_pdf_opens_with_the_main_table(smoke_run):
    workdir, config = smoke_run
    pdf = workdir / "report" / "report.pdf"
    page1 = subprocess.run(
        ["pdftotext", "-layout", "-f", "1", "-l", "1", str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Headline results" in page1
    # what was run, in one sentence of counts (the attacks by name come later, in the set-up)
    assert re.search(
        r"This run trained \d+ models .* attacked each with \d+ attacks", " ".join(page1.split())
    )
    for label in ("Standard", "PGD-AT", "TRADES", "SAGR", "Clean", "Worst case"):
        assert label in page1, label
    # the headline table: one row per method, its clean accuracy first: mean (± sd over seeds) [95 %
    # interval], the column head stating its n
    cell = r"\d+\.\d( ± \d+\.\d)? \[\d+\.\d, \d+\.\d\]"
    assert re.search(r"Clean\s+Worst case\s+n=\d+", page1), page1
    for label in ("Standard", "PGD-AT", "TRADES", "MART", "IGR", "JR", "SAGR"):
        assert re.search(rf"^\s*{re.escape(label)}\s+{cell}", page1, re.M), (label, page1)


def test_sagr_evaluate_reproduces_the_pipeline_numbers_on_a_saved_model(smoke_run):
    workdir, config = smoke_run
    run = encode_run("sagr", config["methods"]["sagr"], 0)
    proc = sagr_cli(
        "evaluate",
        f"results/mnist/{run}/model.pt",
        "--dataset",
        "mnist",
        "--config",
        str(REPO / "config" / "smoke.yaml"),
        "--out",
        "evaluation/cli",
        "--seed",
        "0",
        cwd=workdir,
        env={"SAGR_DATA_MIRROR": str(mirror_dir())},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ours = json.loads((workdir / "evaluation" / "cli" / "robustness.json").read_text())
    pipeline = json.loads((workdir / "results" / "mnist" / run / "robustness.json").read_text())
    key = lambda r: (r["attack"], r.get("norm"), r["eps"])  # noqa: E731
    assert {key(r): (r["accuracy"], r["n"]) for r in ours["records"]} == {
        key(r): (r["accuracy"], r["n"]) for r in pipeline["records"]
    }
    assert ours["worst_case"] == pipeline["worst_case"]
    assert [(m["check"], m["passed"]) for m in ours["masking"]] == [
        (m["check"], m["passed"]) for m in pipeline["masking"]
    ]


def test_job_logs_are_readable_and_every_job_is_benchmarked(smoke_run):
    workdir, config = smoke_run
    run = encode_run("standard", {}, 0)
    train_log = (workdir / "logs" / "mnist" / run / "train.log").read_text()
    assert re.search(
        r"epoch 1/1: loss [\d.]+ \(ce [\d.]+, reg [-\d.e]+\), train acc [\d.]+ \(n=\d+\), eps -, [\d.]+s",
        train_log,
    ), train_log
    eval_log = (workdir / "logs" / "mnist" / run / "evaluate.log").read_text()
    assert re.search(r"attack pgd eps=0.1: accuracy [\d.]+ \(n=64\) in [\d.]+s", eval_log), eval_log
    assert "%|" not in train_log + eval_log  # no progress-bar frames in files
    for stage in ("train", "evaluate", "saliency"):
        tsv = workdir / "results" / "benchmarks" / stage / "mnist" / f"{run}.tsv"
        header = tsv.read_text().splitlines()[0].split("\t")
        assert header[:2] == ["s", "h:m:s"] and "max_rss" in header, tsv


def test_snakemake_report_holds_the_figures_and_tables(smoke_run):
    import zipfile

    workdir, _ = smoke_run
    snakemake(workdir, "--report", "report/workflow.zip")
    names = zipfile.ZipFile(workdir / "report" / "workflow.zip").namelist()
    figures = {p.name for p in (workdir / "report" / "figures").glob("*.png")}
    assert figures and all(any(n.endswith("/" + f) for n in names) for f in figures), names
    assert any(n.endswith("robustness_summary.csv") for n in names)
    assert any(n.endswith("index.html") for n in names)


def test_every_run_gets_the_same_suite_on_the_same_points(smoke_run):
    """Main runs and every ablation point (the default one included) are attacked alike, so the ablation
    compares like with like; the worst case at every ε is measured on all evaluated points."""
    import numpy as np

    workdir, config = smoke_run
    runs = sorted((workdir / "results" / "mnist").glob("*/robustness.json"))
    assert len(runs) == len(config["methods"]) + 2  # the sweep adds beta=0 and form=coupled
    suites, points = set(), set()
    for path in runs:
        rob = json.loads(path.read_text())
        suites.add(tuple(sorted((r["attack"], r["eps"]) for r in rob["records"])))
        with np.load(path.parent / "correct.npz") as npz:
            points.add(tuple(npz["indices"].tolist()))
            for w in rob["worst_case"]:
                key = ("worst@" if w["norm"] == "linf" else f"worst_{w['norm']}@") + f"{w['eps']:g}"
                assert int((npz[key] == 1).sum()) == w["n_correct"]
                if w["eps"] < 1:
                    assert w["n"] == rob["n_eval"], (path, w)
        assert rob["reference_autoattack"] is not None and len(rob["masking"]) == 4
    assert len(suites) == 1 and len(points) == 1


def test_every_result_records_what_made_it(smoke_run):
    workdir, _ = smoke_run
    records = list((workdir / "results" / "mnist").glob("*/*.json"))
    assert records
    for path in records:
        prov = json.loads(path.read_text())["provenance"]
        assert {"config", "seed", "git_commit", "versions", "device", "wall_time_s"} <= set(prov), path
        assert prov["versions"]["torch"] != "not installed"


def test_saved_model_loads_in_eval_mode_on_unit_range_inputs(smoke_run):
    workdir, config = smoke_run
    run = encode_run("sagr", config["methods"]["sagr"], 0)
    model = sagr.load_model(workdir / "results" / "mnist" / run / "model.pt")
    assert not model.training
    train = json.loads((workdir / "results" / "mnist" / run / "train.json").read_text())
    from sagr.data import load_split

    x, y = load_split("mnist", workdir / "data", train=False)
    acc = (model(x[:1000]).argmax(1) == y[:1000]).float().mean().item()
    assert abs(acc - train["test_accuracy"]) < 0.05  # same model, same preprocessing


def test_an_unlisted_ablation_point_is_built_from_its_path_alone(smoke_run):
    workdir, _ = smoke_run
    run = "sagr_lam1_beta0.25_T1_decoupled_projection_n1_seed0"
    out = snakemake(workdir, "-n", f"results/mnist/{run}/robustness.json")
    assert planned_jobs(out) == {"train_model": 1, "evaluate_model": 1}


def test_a_new_sweep_value_reruns_only_what_depends_on_it(smoke_run, tmp_path):
    workdir, config = smoke_run
    config["ablation"]["sweeps"]["sagr"]["beta"].append(1.0)
    changed = tmp_path / "changed.yaml"
    # sort_keys=False: the attacks keep their order, which is what they run in (a reorder reruns them).
    changed.write_text(yaml.safe_dump(config, sort_keys=False))
    out = snakemake(workdir, "-n", configfile=changed)
    pdf = {"render_pdf": 1} if shutil.which("latexmk") else {}
    assert planned_jobs(out) == {
        "train_model": 1,
        "evaluate_model": 1,
        "saliency_model": 1,
        "render_report": 1,
        **pdf,
        "all": 1,
    }


def _relink(src, dst):
    """Put a kept file back as it was (same bytes, same mtime), as the README's cp -p does."""
    for a, b in ((src, dst), (sidecar(src), sidecar(dst))):
        if b.exists() and os.path.samefile(a, b):  # still the kept hard link: nothing to restore
            continue
        shutil.copy2(a, b)


def test_a_deleted_model_reruns_what_depends_on_it(smoke_run):
    workdir, config = smoke_run
    model = workdir / "results" / "mnist" / encode_run("standard", {}, 0) / "model.pt"
    model.unlink()
    try:
        pdf = {"render_pdf": 1} if shutil.which("latexmk") else {}
        assert planned_jobs(snakemake(workdir, "-n")) == {
            "train_model": 1,
            "evaluate_model": 1,
            "saliency_model": 1,
            "render_report": 1,
            **pdf,
            "all": 1,
        }
    finally:
        _relink(workdir / PREVIOUS_DIR / model.relative_to(workdir), model)
    assert "Nothing to be done" in snakemake(workdir, "-n")


def test_a_deleted_data_cache_is_seen_by_snakemake(smoke_run):
    workdir, _ = smoke_run
    cached = workdir / "data" / "cache" / "mnist-test.pt"
    aside = cached.with_name("aside.pt")
    os.rename(cached, aside)
    try:
        plan = planned_jobs(snakemake(workdir, "-n"))
    finally:
        os.rename(aside, cached)
    assert plan["fetch_dataset"] == 1 and plan["evaluate_model"] >= 1 and plan["render_report"] == 1


def test_a_truncated_model_fails_naming_it_keeps_the_good_results_and_the_named_command_rebuilds(smoke_run):
    workdir, _ = smoke_run
    run_dir = workdir / "results" / "mnist" / encode_run("standard", {}, 0)
    model, record = run_dir / "model.pt", run_dir / "robustness.json"
    good_model, good_record = sha256(model), read_json(record)
    model.write_bytes(model.read_bytes()[:1000])
    env = {**os.environ, "SAGR_DATA_MIRROR": str(mirror_dir())}
    proc = subprocess.run(
        snakemake_cmd(
            "-d",
            str(workdir),
            "--configfile",
            str(REPO / "config" / "smoke.yaml"),
            "--cores",
            "1",
            str(record.relative_to(workdir)),
        ),
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode != 0
    log = (workdir / "logs" / "mnist" / run_dir.name / "evaluate.log").read_text()
    # the printed command carries the run's config files, so that copied as printed it plans this run's jobs
    command = (
        f"snakemake --cores all --configfile {REPO / 'config' / 'smoke.yaml'} "
        f"--forcerun results/mnist/{run_dir.name}/model.pt"
    )
    assert f"results/mnist/{run_dir.name}/model.pt: file is damaged" in log and command in log
    assert not record.exists()  # Snakemake removed the failed job's outputs ...
    kept = workdir / PREVIOUS_DIR / record.relative_to(workdir)
    assert read_json(kept) == good_record  # ... the last good one is kept, hash-checked
    out = snakemake(workdir, *command.split()[2:])  # the command the message names
    pdf = {"render_pdf": 1} if shutil.which("latexmk") else {}
    assert planned_jobs(out) == {
        "train_model": 1,
        "evaluate_model": 1,
        "saliency_model": 1,
        "render_report": 1,
        **pdf,
        "all": 1,
    }
    assert sha256(model) == good_model  # retrained bit-identically
    new = read_json(record)
    assert [r["accuracy"] for r in new["records"]] == [r["accuracy"] for r in good_record["records"]]


def test_rerun_of_a_finished_pipeline_does_nothing(smoke_run):
    workdir, _ = smoke_run
    assert "Nothing to be done" in snakemake(workdir, "-n")


def test_sagr_verdicts_are_the_reports_and_leave_out_an_unfinished_run(smoke_run, tmp_path):
    workdir, config = smoke_run
    config_file = REPO / "config" / "smoke.yaml"
    proc = sagr_cli(
        "verdicts", "--configfile", str(config_file), "--csv", str(tmp_path / "all.csv"), cwd=workdir
    )
    assert proc.returncode == 0, proc.stderr
    now = pd.read_csv(tmp_path / "all.csv")
    report = pd.read_csv(workdir / "results" / "summary" / "claims.csv")
    key = ["claim", "dataset", "comparison"]
    merged = report.merge(now[now["claim"].isin(report["claim"])], on=key, suffixes=("", "_now"))
    assert len(merged) == len(report)  # the same comparisons as the finished report, with the same verdicts
    assert (merged["verdict"] == merged["verdict_now"]).all()
    assert ((merged["estimate"] - merged["estimate_now"]).abs().fillna(0) < 1e-12).all()
    runs = sum(1 for _ in (workdir / "results" / "mnist").glob("*/train.json"))
    assert f"{runs} of {runs} runs finished" in proc.stdout
    # A run still to finish (its robustness.json not yet written) is named and left out: the claims that
    # read it are no longer tested, the others keep their verdicts.
    partial = tmp_path / "results"
    shutil.copytree(workdir / "results", partial, symlinks=True)
    jr = encode_run("jr", config["methods"]["jr"], config["seeds"][0])
    (partial / "mnist" / jr / "robustness.json").unlink()
    proc = sagr_cli(
        "verdicts",
        "--results",
        str(partial),
        "--configfile",
        str(config_file),
        "--csv",
        str(tmp_path / "p.csv"),
        cwd=workdir,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"{runs - 1} of {runs} runs finished" in proc.stdout and f"mnist/{jr}" in proc.stdout
    part = pd.read_csv(tmp_path / "p.csv")
    verdict = part.groupby("claim")["verdict"].first()
    assert verdict["C2"] == "not tested" and verdict["C6"] == "not tested"  # both read JR's main model
    full = now.groupby("claim")["verdict"].first()
    assert verdict["C4"] == full["C4"]  # the beta sweep reads SAGR only
