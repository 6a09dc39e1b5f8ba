"""Every bad config value stops with a ConfigError naming its key path, before any job (sagr.checks)."""

import copy
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import REPO, sagr_cli, snakemake_cmd
from sagr.checks import ConfigError, read_config_file, split_sizes
from sagr.config import load
from sagr.files import write_json


def checked(config: dict) -> dict:
    """What the Snakefile does: raw checks, schema (defaults filled), value and cross-key checks."""
    return load(copy.deepcopy(config))


@pytest.mark.parametrize("name", ["config.yaml", "smoke.yaml", "paper.yaml"])
def test_shipped_configs_pass(name):
    load(REPO / "config" / name)


BAD = [
    # (mutation, first words of the message: key path, then what is allowed)
    (
        lambda c: c["datasets"]["mnist"].update(eval_subset=20000),
        "datasets.mnist.eval_subset: 20000 is larger than the mnist test split (10000 images); allowed range 1..10000",
    ),
    (
        lambda c: c["datasets"]["mnist"].update(train_subset=70000),
        "datasets.mnist.train_subset: 70000 is larger than the mnist training split (60000 images)",
    ),
    (
        lambda c: c["datasets"]["mnist"].update(saliency_images=65),
        "datasets.mnist.saliency_images: 65 is larger than the evaluation set of mnist (64 images",
    ),
    (
        lambda c: c["datasets"]["mnist"].update(figure_images=33, saliency_images=32),
        "datasets.mnist.figure_images",
    ),
    (
        lambda c: c["attacks"]["square"].update(subset=100),
        "attacks.square.subset: 100 is larger than the evaluation set of mnist (64 images",
    ),
    (lambda c: c.update(seeds=[0, 0]), "seeds: 0 appears more than once"),
    (lambda c: c["ablation"].update(seeds=[1, 1]), "ablation.seeds: 1 appears more than once"),
    (
        lambda c: c["datasets"]["mnist"].update(eps=[0.1, 0.3, 0.1]),
        "datasets.mnist.eps: 0.1 appears more than once",
    ),
    (
        lambda c: c["datasets"]["mnist"].update(eps_l2=[1.0, 1.0]),
        "datasets.mnist.eps_l2: 1.0 appears more than once",
    ),
    (
        lambda c: c["ablation"]["sweeps"]["sagr"].update(beta=[0.5, 0.5]),
        "ablation.sweeps.sagr.beta: 0.5 appears",
    ),
    (
        lambda c: c["attacks"]["pgd_unbounded"].update(budgets=[1.0, 1.0]),
        "attacks.pgd_unbounded.budgets: 1.0 appears",
    ),
    (
        lambda c: c["datasets"]["mnist"].update(eps_l2=[]),
        "datasets.mnist.eps_l2: empty, but attacks.cw_l2 (kind 'cw_l2', budgets 'l2') needs at least one L2 budget",
    ),
    (
        lambda c: c["datasets"]["mnist"]["optimizer"].update(lr=float("nan")),
        "datasets.mnist.optimizer.lr: nan is not allowed; every number must be finite",
    ),
    (lambda c: c["methods"]["jr"].update(lam=float("inf")), "methods.jr.lam: inf is not allowed"),
    (
        lambda c: c["datasets"]["mnist"].update(eps=[0.1, float("inf")]),
        "datasets.mnist.eps[1]: inf is not allowed",
    ),
    (lambda c: c["methods"]["sagr"].update(lam="1e8"), "methods.sagr.lam: '1e8' is a string, not a number"),
    (
        lambda c: c.update(learning_rate=0.1),
        "<top level>: Additional properties are not allowed ('learning_rate' was unexpected)",
    ),
    (
        lambda c: c["methods"]["sagr"].update(beta=1.5),
        "methods.sagr.beta: 1.5 is greater than the maximum of 1",
    ),
    (
        lambda c: c["datasets"]["mnist"].update(epochs="three"),
        "datasets.mnist.epochs: 'three' is not of type 'integer'",
    ),
]


@pytest.mark.parametrize("mutate, message", BAD, ids=[m for _, m in BAD])
def test_bad_value_names_its_key_and_range(smoke_config, mutate, message):
    mutate(smoke_config)
    with pytest.raises(ConfigError) as err:
        checked(smoke_config)
    assert message in str(err.value)


def test_string_number_hint_is_what_yaml_reads_as_a_float(smoke_config):
    smoke_config["methods"]["sagr"]["lam"] = "1e8"
    with pytest.raises(ConfigError) as err:
        checked(smoke_config)
    hint = str(err.value).rsplit("write ", 1)[1]
    assert yaml.safe_load(f"lam: {hint}")["lam"] == 1e8


def test_split_sizes_prefer_the_cache_info(tmp_path, smoke_config):
    write_json(tmp_path / "cache" / "mnist-info.json", {"n_train": 500, "n_test": 40})
    smoke_config["data"]["root"] = str(tmp_path)
    assert split_sizes(smoke_config, "mnist") == {"train": 500, "test": 40}
    with pytest.raises(
        ConfigError, match=r"datasets.mnist.eval_subset: 64 is larger than the mnist test split \(40"
    ):
        checked(smoke_config)


def test_yaml_syntax_error_names_file_line_and_column(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("seeds: [0]\ndatasets:\n  mnist: {epochs: 1\nmethods: {}\n")
    for read in (read_config_file, load):
        with pytest.raises(ConfigError) as err:
            read(bad)
        assert str(err.value).startswith(f"{bad}:4:8: YAML syntax error")


@pytest.mark.parametrize(
    "edit, message",
    [
        ("s/eval_subset: 64/eval_subset: 20000/", "datasets.mnist.eval_subset: 20000 is larger than"),
        ("s/lam: 1.0, beta/lam: 1e8, beta/", "methods.sagr.lam: '1e8' is a string"),
        ("s/seeds: \\[0\\]/seeds: [0, 0]/", "seeds: 0 appears more than once"),
    ],
)
def test_snakemake_stops_before_any_job_with_the_key_in_the_first_lines(tmp_path, edit, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        subprocess.run(
            ["sed", edit, str(REPO / "config" / "smoke.yaml")], capture_output=True, text=True, check=True
        ).stdout
    )
    proc = subprocess.run(
        snakemake_cmd("--cores", "1", "--configfile", str(bad), "-d", str(tmp_path / "wd")),
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    head = "\n".join((proc.stdout + proc.stderr).splitlines()[:4])
    assert message in head
    assert not (tmp_path / "wd" / "results").exists() and not (tmp_path / "wd" / "logs").exists()


def _check_config(*files):
    return sagr_cli("check-config", *map(str, files))


def test_check_config_merges_files_as_snakemake_does_and_names_the_first_problem(tmp_path):
    both = _check_config(REPO / "config" / "config.yaml", REPO / "config" / "fashion_mnist.yaml")
    assert both.returncode == 0, both.stderr
    assert "datasets mnist, fashion_mnist" in both.stdout
    alone = _check_config(REPO / "config" / "fashion_mnist.yaml")  # an add-on is not a config
    assert alone.returncode == 2 and "'methods' is a required property" in alone.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("seeds: [0, 1\ndatasets: {}\n")
    syntax = _check_config(bad)
    assert syntax.returncode == 2 and f"{bad}:2:9: YAML syntax error" in syntax.stderr
    override = tmp_path / "override.yaml"
    override.write_text("datasets:\n  mnist:\n    eval_subset: 20000\n")
    value = _check_config(REPO / "config" / "config.yaml", override)
    assert value.returncode == 2 and "datasets.mnist.eval_subset: 20000 is larger than" in value.stderr


def test_a_syntax_error_in_the_default_config_names_its_line_under_plain_snakemake(tmp_path):
    # Snakemake's own loader says only "not valid JSON or YAML"; the Snakefile reads the file first.
    for part in ("Snakefile", "workflow", "src", "profiles"):
        src = REPO / part
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / part)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text("seeds: [0, 1\nmethods: {}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert "config/config.yaml:2:8: YAML syntax error" in proc.stdout + proc.stderr
