"""The Departures section says what a run leaves out of METHOD.md's study, derived from the config."""

import copy

from sagr.config import load
from sagr.departures import STUDY_SEEDS, departures


def _scope(cfg: dict) -> str:
    return " ".join(d for d in departures(load(cfg)) if "METHOD.md's datasets" in d or "seed" in d)


def test_a_run_without_some_study_datasets_names_them_and_one_with_all_does_not(default_config):
    text = _scope(default_config)
    for label in ("Fashion-MNIST", "CIFAR-10", "SVHN"):
        assert label in text
    assert "covers MNIST" in text and "CIFAR-100" not in text  # optional in METHOD.md
    full = copy.deepcopy(default_config)
    for name in ("fashion_mnist", "cifar10", "svhn"):
        full["datasets"][name] = {**default_config["datasets"]["mnist"], "arch": "small_cnn"}
    assert "METHOD.md's datasets" not in _scope(full)


def test_fewer_seeds_than_a_study_needs_is_a_departure(default_config):
    assert len(default_config["seeds"]) == STUDY_SEEDS and "seeds per method" not in _scope(default_config)
    two = {**copy.deepcopy(default_config), "seeds": [0, 1]}
    assert f"2 seeds per method, not {STUDY_SEEDS}" in _scope(two)


def test_sweeps_below_three_seeds_are_a_departure_that_names_the_add_on() -> None:
    from sagr.config import load
    from sagr.departures import departures

    config = load("config/config.yaml")
    text = " ".join(departures(config))
    assert "sweep points (the λ curves, the β sweep) are trained at 1 seed," in text
    assert "config/curves.yaml" in text
    config["ablation"]["seeds"] = [0, 1, 2]
    assert "sweep points (the λ curves" not in " ".join(departures(config))


def test_a_seed_limited_attack_counts_the_seeds_of_every_main_model(default_config):
    """With more seeds for JR and SAGR (config/seeds.yaml), the reference AutoAttack on seed 0 covers
    one seed of 8, not 'of 3'."""
    config = copy.deepcopy(default_config)
    config["method_seeds"] = {"jr": list(range(8)), "sagr": list(range(8))}
    text = " ".join(departures(load(config)))
    assert "not on all 8 seeds" in text and "not on all 3 seeds" not in text
    assert "not on all 3 seeds" in " ".join(departures(load(copy.deepcopy(default_config))))
