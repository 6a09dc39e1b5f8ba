"""config/cifar_smoke.yaml: the paper DAG's shape (CIFAR-10 + SVHN, PreActResNet-18 at 1/8 width,
augmentation, validation split, checkpoints) end to end on CPU, on generated data in the real formats."""

import json
import os
import subprocess

import pytest
import yaml

from conftest import REPO, snakemake_cmd

pytestmark = pytest.mark.slow
CONFIG = REPO / "config" / "cifar_smoke.yaml"


@pytest.fixture(scope="module")
def cifar_run(tmp_path_factory, fake_cifar_mirror):
    workdir = tmp_path_factory.mktemp("cifar_smoke")
    # Generated stand-ins, not the official files: used only because the test says so.
    env = {**os.environ, "SAGR_DATA_MIRROR": str(fake_cifar_mirror), "SAGR_ALLOW_UNOFFICIAL_DATA": "1"}
    proc = subprocess.run(
        snakemake_cmd(
            "-d",
            str(workdir),
            "--configfile",
            str(CONFIG),
            "--cores",
            "2",
        ),
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return workdir, yaml.safe_load(CONFIG.read_text())


def test_every_run_trained_with_a_validation_split_and_records_its_best_epoch(cifar_run):
    workdir, config = cifar_run
    for dataset, dcfg in config["datasets"].items():
        records = [json.loads(p.read_text()) for p in (workdir / "results" / dataset).glob("*/train.json")]
        assert len(records) >= len(config["methods"])
        for r in records:
            assert r["n_train"] == dcfg["train_subset"] and r["n_val"] == dcfg["validation"]["n"]
            assert [v["epoch"] for v in r["val_history"]] == list(range(1, dcfg["epochs"] + 1))
            best = max(r["val_history"], key=lambda v: (v["pgd_accuracy"], v["clean_accuracy"], -v["epoch"]))
            assert r["best_epoch"] == best["epoch"]
            assert r["provenance"]["config"]["settings"]["augment"] == dcfg["augment"]


def test_finished_runs_leave_no_checkpoint_and_the_report_states_the_departures(cifar_run):
    workdir, _ = cifar_run
    assert not [p for p in (workdir / "checkpoints").rglob("*") if p.is_file()]
    html = (workdir / "report" / "index.html").read_text()
    assert "Rice et al., ICML 2020" in html and "preact_resnet18_tiny" in html
    for dataset in ("cifar10", "svhn"):
        assert json.loads((workdir / "results" / "data" / f"{dataset}.json").read_text())["source"] in (
            "mirror",
            "download",
        )
        assert list((workdir / "results" / dataset).glob("*/robustness.json"))
