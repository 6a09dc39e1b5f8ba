"""Checks on a schema-valid config that JSON schema cannot express, run before any job."""
from __future__ import annotations

import json
from typing import Any

from .runs import make_run


class ConfigError(ValueError):
    """A config value is wrong; the message names the key."""


def check_config(config: dict[str, Any]) -> None:
    """Cross-key consistency: method hyper-parameters, ablation targets, attack specs."""
    from .attacks import validate_suite  # heavy import (torchattacks) only when checking

    for method, hp in config["methods"].items():
        try:
            make_run(method, hp, 0)
        except ValueError as err:
            raise ConfigError(f"methods.{method}: {err}") from None
    ablation = config.get("ablation") or {}
    for dataset in ablation.get("datasets", []):
        if dataset not in config["datasets"]:
            raise ConfigError(f"ablation.datasets: {dataset!r} is not in datasets {sorted(config['datasets'])}")
    for method, sweeps in (ablation.get("sweeps") or {}).items():
        if method not in config["methods"]:
            raise ConfigError(f"ablation.sweeps.{method}: the method needs default hyper-parameters under methods.{method}")
        for param, values in sweeps.items():
            for value in values:
                try:
                    make_run(method, {**config["methods"][method], param: value}, 0)
                except ValueError as err:
                    raise ConfigError(f"ablation.sweeps.{method}.{param}: {err}") from None
    for name in ablation.get("attacks", []):
        if name not in config["attacks"]:
            raise ConfigError(f"ablation.attacks: {name!r} is not an attack of the config {sorted(config['attacks'])}")
    try:
        validate_suite(config["attacks"])
    except ValueError as err:
        raise ConfigError(f"attacks: {err}") from None
    bench = config.get("benchmark") or {}
    if bench.get("enabled") and bench.get("dataset") not in config["datasets"]:
        raise ConfigError(f"benchmark.dataset: {bench.get('dataset')!r} is not in datasets {sorted(config['datasets'])}")


def method_hparams(config: dict[str, Any], dataset: str, method: str, hp: dict[str, Any]) -> dict[str, Any]:
    """A run's hyper-parameters plus what the dataset fixes (the training ε)."""
    if method in ("pgd_at", "trades"):
        return {**hp, "eps": config["datasets"][dataset]["train_eps"]}
    return dict(hp)


# Which dataset keys each stage reads: a stage reruns only when its own keys change.
STAGE_KEYS: dict[str, tuple[str, ...]] = {
    "train": ("arch", "train_subset", "epochs", "batch_size", "optimizer", "train_eps", "eps_ramp"),
    "evaluate": ("eps", "eps_l2", "eval_subset", "eval_seed", "eval_batch_size"),
    "saliency": ("eval_subset", "eval_seed", "saliency_images", "figure_images"),
}


def stage_settings(config: dict[str, Any], dataset: str, stage: str, **extra: Any) -> str:
    """Canonical JSON of what `stage` reads for `dataset`: a Snakemake params rerun trigger
    that ignores key order and the settings of other stages."""
    dcfg = config["datasets"][dataset]
    return json.dumps({**{k: dcfg.get(k) for k in STAGE_KEYS[stage]}, **extra}, sort_keys=True)
