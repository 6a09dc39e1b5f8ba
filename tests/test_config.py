"""Config validation: bad values stop the run with a message naming the key."""

import copy
import subprocess

import pytest
import yaml

from conftest import REPO, snakemake_cmd
from sagr.config import ConfigError, load


def validated(config: dict) -> dict:
    return load(copy.deepcopy(config))


@pytest.mark.parametrize("name", ["config.yaml", "smoke.yaml", "paper.yaml"])
def test_shipped_configs_are_valid(name):
    with open(REPO / "config" / name) as fh:
        validated(yaml.safe_load(fh))


def test_schema_fills_documented_defaults(smoke_config):
    del smoke_config["datasets"]["mnist"]["eval_subset"]
    assert validated(smoke_config)["datasets"]["mnist"]["eval_subset"] == 1000


@pytest.mark.parametrize(
    "mutate, where",
    [
        (lambda c: c.update(learning_rate=0.1), "'learning_rate' was unexpected"),
        (lambda c: c["datasets"]["mnist"].update(epochs="three"), "datasets.mnist.epochs: 'three'"),
        (lambda c: c["datasets"]["mnist"].update(eps=[0.1, -0.3]), "datasets.mnist.eps[1]: -0.3"),
        (lambda c: c["methods"]["sagr"].update(beta=1.5), "methods.sagr.beta: 1.5"),
        (lambda c: c["methods"]["sagr"].update(beta=-0.1), "methods.sagr.beta: -0.1"),
        (
            lambda c: c["ablation"]["sweeps"]["sagr"].update(beta=[0.5, 2.0]),
            "ablation.sweeps.sagr.beta[1]: 2.0",
        ),
        (lambda c: c["datasets"]["mnist"].update(batchsize=64), "'batchsize' was unexpected"),
        (lambda c: c["methods"]["sagr"].update(form="both"), "methods.sagr.form: 'both'"),
        (lambda c: c["methods"]["igr"].update(beta=0.5), "methods.igr: Additional properties"),
        (lambda c: c["methods"].update(sgar={}), "methods: 'sgar' is not one of"),
        (
            lambda c: c["ablation"]["sweeps"]["sagr"].update(alpha_over_eps=[0.1]),
            "'alpha_over_eps' was unexpected",
        ),
    ],
)
def test_schema_rejects_bad_value_naming_the_key(smoke_config, mutate, where):
    mutate(smoke_config)
    with pytest.raises(ConfigError) as err:
        validated(smoke_config)
    assert where in str(err.value)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: c["methods"]["sagr"].pop("T"), "methods.sagr"),
        (lambda c: c["ablation"].update(datasets=["cifar10"]), "ablation.datasets"),
        (
            lambda c: c["ablation"].update(attacks=["pgd"]),
            "'attacks' was unexpected",
        ),  # one suite for every run
        (lambda c: c["attacks"]["square"].update(role="masking"), "role"),
        (lambda c: c["attacks"]["pgd"].pop("steps"), "steps"),
        (lambda c: c["methods"].pop("sagr"), "ablation.sweeps.sagr"),
    ],
)
def test_cross_key_checks_name_the_key(smoke_config, mutate, message):
    mutate(smoke_config)
    with pytest.raises(ConfigError) as err:
        validated(smoke_config)
    assert message in str(err.value)


def test_snakemake_stops_before_any_job_with_the_key_named(tmp_path, smoke_config):
    smoke_config["methods"]["sagr"]["beta"] = 1.5
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(smoke_config))
    proc = subprocess.run(
        snakemake_cmd("-n", "--cores", "1", "--configfile", str(bad), "-d", str(tmp_path / "wd")),
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "methods.sagr.beta: 1.5 is greater than the maximum of 1" in out
    assert not (tmp_path / "wd" / "results").exists()
