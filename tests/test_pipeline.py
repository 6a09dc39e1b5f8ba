"""The whole DAG on config/smoke.yaml, in a temporary directory, as a user runs it."""
import json
import os
import re
import subprocess
import sys

import pandas as pd
import pytest
import yaml

import sagr
from sagr.attacks import resolve_budgets
from sagr.runs import encode_run
from sagr.tables import fmt_mean_std
from conftest import REPO, mirror_dir

pytestmark = pytest.mark.slow


def snakemake(workdir, *args, configfile=REPO / "config" / "smoke.yaml"):
    env = {**os.environ, "SAGR_DATA_MIRROR": str(mirror_dir())}
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
           "--configfile", str(configfile), "--cores", "2", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def planned_jobs(output: str) -> dict[str, int]:
    """Rule -> count from snakemake's 'Job stats' table of a dry run."""
    table = output.split("Job stats:")[1].split("total")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)}


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    if not (mirror_dir() / "MD5SUMS").exists():
        pytest.fail(f"the data mirror {mirror_dir()} is missing: set SAGR_DATA_MIRROR")
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
                row = summary[(summary.method == method) & (summary.attack == attack) & (abs(summary.eps - eps) < 1e-9)]
                assert len(row) == 1, (method, attack, eps)
                acc = float(row.iloc[0]["mean"])
                assert 0.0 <= acc <= 1.0
                assert fmt_mean_std(acc, float("nan"), 1) in html, (method, attack, eps)
    assert "Saliency" in html and "Gini" in html and "Provenance" in html
    assert r"\toprule" in tex and r"\begin{document}" in tex


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
    changed.write_text(yaml.safe_dump(config))
    out = snakemake(workdir, "-n", configfile=changed)
    assert planned_jobs(out) == {"train_model": 1, "evaluate_model": 1, "saliency_model": 1, "render_report": 1, "all": 1}


def test_rerun_of_a_finished_pipeline_does_nothing(smoke_run):
    workdir, _ = smoke_run
    assert "Nothing to be done" in snakemake(workdir, "-n")
