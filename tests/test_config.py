"""Config validation: bad values stop the run with a message naming the key."""
import copy
import subprocess
import sys

import pytest
import yaml
from snakemake.exceptions import WorkflowError as ValidationError  # what snakemake.utils.validate raises
from snakemake.utils import validate

from sagr.config import ConfigError, check_config
from conftest import REPO, SCHEMA


def validated(config: dict) -> dict:
    config = copy.deepcopy(config)
    validate(config, str(SCHEMA))
    check_config(config)
    return config


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
        (lambda c: c["datasets"]["mnist"].update(epochs="three"), "On instance['datasets']['mnist']['epochs']"),
        (lambda c: c["datasets"]["mnist"].update(eps=[0.1, -0.3]), "On instance['datasets']['mnist']['eps'][1]"),
        (lambda c: c["methods"]["sagr"].update(beta=1.5), "On instance['methods']['sagr']['beta']"),
        (lambda c: c["methods"]["sagr"].update(beta=-0.1), "On instance['methods']['sagr']['beta']"),
        (lambda c: c["ablation"]["sweeps"]["sagr"].update(beta=[0.5, 2.0]), "On instance['ablation']['sweeps']['sagr']['beta'][1]"),
        (lambda c: c["datasets"]["mnist"].update(batchsize=64), "'batchsize' was unexpected"),
        (lambda c: c["methods"]["sagr"].update(form="both"), "On instance['methods']['sagr']['form']"),
    ],
)
def test_schema_rejects_bad_value_naming_the_key(smoke_config, mutate, where):
    mutate(smoke_config)
    with pytest.raises(ValidationError) as err:
        validated(smoke_config)
    assert where in str(err.value)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: c["methods"]["sagr"].pop("T"), "methods.sagr"),
        (lambda c: c["ablation"].update(datasets=["cifar10"]), "ablation.datasets"),
        (lambda c: c["ablation"].update(attacks=["pgd", "deepfool"]), "deepfool"),
        (lambda c: c["attacks"]["pgd"].pop("steps"), "steps"),
        (lambda c: c["methods"].pop("sagr"), "ablation.sweeps.sagr"),
    ],
)
def test_cross_key_checks_name_the_key(smoke_config, mutate, message):
    mutate(smoke_config)
    with pytest.raises((ConfigError, ValidationError)) as err:
        validated(smoke_config)
    assert message in str(err.value)


def test_snakemake_stops_before_any_job_with_the_key_named(tmp_path, smoke_config):
    smoke_config["methods"]["sagr"]["beta"] = 1.5
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(smoke_config))
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", str(bad), "-d", str(tmp_path / "wd")],
        cwd=REPO, capture_output=True, text=True,
    )
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "On instance['methods']['sagr']['beta']" in out and "1.5" in out
    assert not (tmp_path / "wd" / "results").exists()
