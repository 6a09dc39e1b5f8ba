"""The `sagr` command: --help, RobustBench export, and the Python API on any nn.Module."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch

import fake_results as fr
from conftest import REPO, mirror_dir, require_mnist, sagr_cli
from sagr import export


def test_console_entry_point_and_help_of_every_command() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["sagr"] == "sagr.cli:main"
    for args, words in (
        (["--help"], ["evaluate", "export"]),
        (["evaluate", "--help"], ["CHECKPOINT", "--dataset", "--config", "--out"]),
        (["export", "--help"], ["--results", "--out", "RobustBench"]),
    ):
        proc = sagr_cli(*args)
        assert proc.returncode == 0, proc.stderr
        for word in words:
            assert word in proc.stdout, (args, word)


def test_evaluate_names_a_missing_checkpoint(tmp_path: Path) -> None:
    proc = sagr_cli(
        "evaluate",
        str(tmp_path / "nope.pt"),
        "--dataset",
        "mnist",
        "--config",
        str(REPO / "config" / "smoke.yaml"),
        "--out",
        str(tmp_path / "out"),
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "nope.pt" in proc.stderr


def test_export_writes_robustbench_model_info_per_model(tmp_path: Path) -> None:
    manifest = fr.write_fake_results(tmp_path / "results", sweep=False)
    proc = sagr_cli(
        "export", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "rb"), cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    files = sorted((tmp_path / "rb").glob("*/*.json"))
    assert len(files) == len(manifest)
    entry = manifest[0]
    info = json.loads((tmp_path / "rb" / entry["dataset"] / f"{entry['run']}.json").read_text())
    rob = json.loads((tmp_path / "results" / entry["dataset"] / entry["run"] / "robustness.json").read_text())
    clean = next(r for r in rob["records"] if r["attack"] == "clean")
    # the worst case over every attack at the largest budget (AutoAttack ran there: APGD-strength)
    top = max((w for w in rob["worst_case"] if w["eps"] < 1), key=lambda w: w["eps"])
    assert info["clean_acc"] == f"{100 * clean['accuracy']:.2f}"
    assert info["autoattack_acc"] == f"{100 * top['accuracy']:.2f}"
    assert (info["n_clean"], info["n_autoattack"]) == (fr.N_EVAL, top["n"])
    assert info["threat_model"] == "Linf" and info["dataset"] == entry["dataset"]
    assert {"link", "name", "architecture", "eps", "additional_data", "number_forward_passes"} <= set(info)


def test_eps_is_written_as_researchers_quote_it() -> None:
    assert export.fmt_eps(8 / 255) == "8/255" and export.fmt_eps(0.3) == "0.3"


@pytest.fixture
def tiny_config(tmp_path: Path) -> dict:
    import yaml

    require_mnist()
    config = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    config["data"] = {"root": str(tmp_path / "data"), "mirror": str(mirror_dir())}
    config["datasets"]["mnist"].update(eval_subset=24, eval_batch_size=24, saliency_images=24)
    return config


def test_python_api_evaluates_any_module_on_the_pipeline_points(tiny_config: dict, tmp_path: Path) -> None:
    from sagr import evaluation, jobs

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 10))  # not a sagr model
    config = evaluation.load_config(REPO / "config" / "smoke.yaml") | {"data": tiny_config["data"]}
    config["datasets"]["mnist"].update(eval_subset=24, eval_batch_size=24, saliency_images=24)
    result = evaluation.evaluate(
        model, "mnist", config, tmp_path / "out", attacks=["fgsm", "pgd"], name="linear"
    )
    x, y, idx = jobs.eval_points(config["datasets"]["mnist"], config["data"]["root"], "mnist")
    n_right = int((model(x).argmax(1) == y).sum())
    clean = next(r for r in result["records"] if r["attack"] == "clean")
    assert clean["n"] == 24 and round(clean["accuracy"] * 24) == n_right
    assert {r["attack"] for r in result["records"]} == {"clean", "fgsm", "pgd"}
    saved = json.loads((tmp_path / "out" / "robustness.json").read_text())
    assert (
        saved["run"] == "linear" and saved["method"] == "external" and saved["records"] == result["records"]
    )
    with np.load(tmp_path / "out" / "correct.npz") as npz:
        assert (npz["indices"] == idx).all() and any(k.startswith("pgd@") for k in npz.files)
    with pytest.raises(ValueError, match="logits"):
        evaluation.evaluate(
            torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 3)),
            "mnist",
            config,
            tmp_path / "bad",
            attacks=["fgsm"],
        )
