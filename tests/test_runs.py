"""Run names encode the hyper-parameters; the manifest expands seeds and sweeps."""

from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config

from sagr.config import ConfigError, load
from sagr.runs import decode_run, encode_run, make_run, manifest


@pytest.mark.parametrize(
    "method, hp",
    [
        ("standard", {}),
        ("pgd_at", {"steps": 10, "alpha_over_eps": 0.25}),
        ("trades", {"beta_trades": 6.0, "steps": 10, "alpha_over_eps": 0.25}),
        ("igr", {"lam": 1e-5}),
        ("jr", {"lam": 0.01, "estimator": "exact", "n_proj": 1}),
        (
            "sagr",
            {"lam": 0.1, "beta": 0.75, "T": 2.0, "form": "coupled", "estimator": "projection", "n_proj": 4},
        ),
    ],
)
def test_run_name_round_trips(method, hp):
    name = encode_run(method, hp, 3)
    run = decode_run(name)
    assert (run.method, run.hp, run.seed) == (method, hp, 3)


def test_run_name_spells_out_every_hyper_parameter():
    name = encode_run(
        "sagr", {"lam": 0.1, "beta": 0.5, "T": 1.0, "form": "decoupled", "estimator": "exact", "n_proj": 1}, 0
    )
    assert name == "sagr_lam0.1_beta0.5_T1_decoupled_exact_n1_seed0"


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("sgar_lam1_seed0", "known method"),
        ("igr_lam1", "pattern"),
        ("igr_lamx_seed0", "lam"),
        ("sagr_lam1_beta0.5_T1_sideways_exact_n1_seed0", "form"),
        ("igr_lam1.0_seed0", "canonical"),
    ],
)
def test_bad_run_names_are_explained(name, fragment):
    with pytest.raises(ValueError, match=fragment):
        decode_run(name)


def test_manifest_has_every_method_dataset_seed_and_sweep_point(default_config):
    entries = manifest(load(default_config))
    main = [e for e in entries if e.main]
    assert len(main) == len(default_config["datasets"]) * len(default_config["methods"]) * len(
        default_config["seeds"]
    )
    all_sweeps = default_config["ablation"]["sweeps"]
    sweeps = all_sweeps["sagr"]
    sweep_points = {(e.run.name, s["param"]) for e in entries for s in e.sweeps}
    assert len(sweep_points) == sum(len(v) for m in all_sweeps.values() for v in m.values())
    default = make_run("sagr", default_config["methods"]["sagr"], 0)
    # The default point is a main run and a member of every sweep.
    entry = next(e for e in entries if e.run == default and e.dataset == "mnist")
    assert entry.main and {s["param"] for s in entry.sweeps} == set(sweeps)
    assert len({(e.dataset, e.run.name) for e in entries}) == len(entries)


@pytest.mark.parametrize(
    "name, message",
    [
        ("pgd_at_K0_a1_seed0", "steps = 0 is less than the minimum of 1 (the bound of methods.pgd_at.steps"),
        ("sagr_lam1_beta2_T1_decoupled_projection_n1_seed0", "beta = 2.0 is greater than the maximum of 1"),
        ("igr_laminf_seed0", "lam = inf is not allowed; every number must be finite (methods.igr.lam)"),
        ("igr_lam1_seed-1", "seed = -1 is less than the minimum of 0 (the bound of seeds"),
    ],
)
def test_a_run_name_is_held_to_the_bounds_the_config_has(name, message):
    with pytest.raises(ValueError) as err:
        decode_run(name)
    assert str(err.value).startswith(f"run {name!r}: {message}")


def _merged(default_config, addon):
    config = yaml.safe_load(yaml.safe_dump(default_config))
    update_config(config, yaml.safe_load((Path(__file__).parents[1] / addon).read_text()))
    return load(config)


def test_method_and_point_seeds_add_models_for_those_methods_and_points_only(default_config):
    base = manifest(load(default_config))
    more = manifest(_merged(default_config, "config/seeds.yaml"))
    added = {(e.run.method, e.run.hp.get("beta"), e.run.seed) for e in more} - {
        (e.run.method, e.run.hp.get("beta"), e.run.seed) for e in base
    }
    # JR and SAGR (beta 0.5: the main model) at seeds 3-7, and SAGR beta = 0 at seeds 1-7: 17 models
    assert added == {("jr", None, s) for s in range(3, 8)} | {("sagr", 0.5, s) for s in range(3, 8)} | {
        ("sagr", 0.0, s) for s in range(1, 8)
    }
    by_name = {e.run.name: e for e in more}
    sagr = [e for e in more if e.run.method == "sagr" and e.run.hp["beta"] == 0.5 and e.run.seed >= 3]
    # the extra SAGR seeds are main models (every masking check) and points of the beta sweep (C4)
    assert all(e.main and {"param": "beta", "value": 0.5} in e.sweeps for e in sagr)
    zero = [e for e in more if e.run.method == "sagr" and e.run.hp["beta"] == 0.0]
    assert all(not e.main for e in zero) and len(zero) == 8
    # the other methods and the lambda curves keep their seeds
    assert {e.run.seed for e in more if e.run.method == "pgd_at"} == set(default_config["seeds"])
    lam_points = [e for e in more if {"param": "lam", "value": 0.3} in e.sweeps]
    assert {e.run.seed for e in lam_points} == set(default_config["ablation"]["seeds"])
    assert len(by_name) == len(more)


@pytest.mark.parametrize(
    "addon, message",
    [
        ({"method_seeds": {"fgsm": [0, 1]}}, "method_seeds.fgsm: not a method of this config"),
        (
            {"ablation": {"point_seeds": [{"method": "sagr", "param": "beta", "value": 0.7, "seeds": [1]}]}},
            r"ablation.point_seeds\[0\]: sagr.beta = 0.7 is not a point of ablation.sweeps",
        ),
        (
            {"ablation": {"point_seeds": [{"method": "jr", "param": "beta", "value": 0.5, "seeds": [1]}]}},
            r"ablation.point_seeds\[0\]: jr.beta = 0.5 is not a point",
        ),
        ({"method_seeds": {"jr": [1, 1]}}, "non-unique|unique"),
        ({"method_seeds": {"jr": [2**32]}}, "4294967296"),
    ],
)
def test_bad_extra_seeds_are_named_before_any_job(default_config, addon, message):
    config = yaml.safe_load(yaml.safe_dump(default_config))
    update_config(config, addon)
    with pytest.raises((ConfigError, ValueError), match=message):
        load(config)
