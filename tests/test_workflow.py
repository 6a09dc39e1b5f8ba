"""The workflow itself: lint-clean, and the paper-scale study plans every job without data."""

import subprocess

from conftest import REPO, snakemake_cmd
from sagr.config import load
from sagr.runs import manifest


def run_snakemake(*args, cwd):
    proc = subprocess.run(
        snakemake_cmd(*args),
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    return proc.returncode, proc.stdout + proc.stderr


def test_workflow_passes_snakemake_lint(tmp_path):
    rc, out = run_snakemake("--lint", "-d", str(tmp_path), cwd=REPO)
    assert rc == 0 and "good condition" in out, out[-2000:]


def test_paper_config_dry_run_lists_the_full_study(tmp_path):
    config = load(REPO / "config" / "paper.yaml")
    rc, out = run_snakemake(
        "-n",
        "--cores",
        "8",
        "--configfile",
        str(REPO / "config" / "paper.yaml"),
        "-d",
        str(tmp_path),
        cwd=REPO,
    )
    assert rc == 0, out[-3000:]
    n_models = len(manifest(config))
    assert n_models >= len(config["datasets"]) * len(config["methods"]) * len(config["seeds"])
    for rule in ("train_model", "evaluate_model", "saliency_model"):
        assert f"\n{rule}" in out
        count = int(out.split(f"\n{rule}")[1].split()[0])
        assert count == n_models, (rule, count, n_models)
    # Every job of the study declares what a scheduler needs to place it.
    assert "gpu=1" in out and "mem_mb=32000" in out
