"""One way to read a config: YAML → JSON schema (defaults filled) → cross-key checks.

The schema is workflow/schemas/config.schema.yaml with its method, dataset and architecture parts
filled from :mod:`sagr.registry` and its attack kinds and roles from :mod:`sagr.attack_kinds`, so a
new method's hyper-parameters, a new dataset, architecture or attack kind are validated without a
schema edit.
Read at Snakefile parse time: no torch here, nor in anything imported at module level.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import registry
from .augment import supported as supported_augment
from .augment import unsupported as unsupported_augment
from .checks import ConfigError, check_raw, check_values, read_config_file  # ConfigError re-exported
from .runs import make_run, same_value
from .schema import SCHEMA_PATH, _schema  # noqa: F401  (SCHEMA_PATH re-exported)


def schema() -> dict[str, Any]:
    """The config's JSON schema, its name lists from the registries (a copy)."""
    return copy.deepcopy(_schema())


def _key_path(parts: Any) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "<top level>"


def validate(config: dict[str, Any]) -> dict[str, Any]:
    """Validate ``config`` in place against :func:`schema`, filling documented defaults."""
    import jsonschema
    from jsonschema import validators

    base = jsonschema.Draft202012Validator

    def set_defaults(validator, properties, instance, subschema):
        # The jsonschema FAQ's recipe, as snakemake.utils.validate uses it.
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from base.VALIDATORS["properties"](validator, properties, instance, subschema)

    validator = validators.extend(base, {"properties": set_defaults})(_schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is not None:
        raise ConfigError(f"{_key_path(error.absolute_path)}: {error.message}")
    return config


def load(source: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """A checked config with every default filled, from a YAML file or a mapping (Snakemake's
    ``config``, validated in place so that the workflow sees the defaults)."""
    if isinstance(source, (str, Path)):
        config = read_config_file(source)  # a syntax error names file:line:column
    else:
        config = source
    check_raw(config)  # non-finite numbers, numbers YAML read as strings: before the schema
    validate(config)
    check_config(config)
    return config


def check_config(config: dict[str, Any]) -> None:
    """Cross-key consistency: method hyper-parameters, ablation targets, attack specs."""
    from .attack_kinds import validate_suite  # torch-free registry

    check_values(config)  # ranges, duplicates, subsets vs split sizes (sagr.checks)
    for method, hp in config["methods"].items():
        try:
            make_run(method, hp, 0)
        except ValueError as err:
            raise ConfigError(f"methods.{method}: {err}") from None
    ablation = config["ablation"]
    for dataset in ablation["datasets"]:
        if dataset not in config["datasets"]:
            raise ConfigError(
                f"ablation.datasets: {dataset!r} is not in datasets {sorted(config['datasets'])}"
            )
    for method, sweeps in ablation["sweeps"].items():
        if method not in config["methods"]:
            raise ConfigError(
                f"ablation.sweeps.{method}: the method needs default hyper-parameters under methods.{method}"
            )
        for param, values in sweeps.items():
            for value in values:
                try:
                    make_run(method, {**config["methods"][method], param: value}, 0)
                except ValueError as err:
                    raise ConfigError(f"ablation.sweeps.{method}.{param}: {err}") from None
    for method in config.get("method_seeds") or {}:
        if method not in config["methods"]:
            raise ConfigError(
                f"method_seeds.{method}: not a method of this config (methods: {sorted(config['methods'])})"
            )
    for i, entry in enumerate(ablation.get("point_seeds") or []):
        values = ablation["sweeps"].get(entry["method"], {}).get(entry["param"])
        if values is None or not any(same_value(entry["value"], v) for v in values):
            raise ConfigError(
                f"ablation.point_seeds[{i}]: {entry['method']}.{entry['param']} = {entry['value']!r} is not a "
                f"point of ablation.sweeps (sweeps: {ablation['sweeps']})"
            )
    try:
        validate_suite(config["attacks"])
    except ValueError as err:
        raise ConfigError(f"attacks: {err}") from None
    trained = set(config["seeds"]) | set(ablation["seeds"])
    trained |= {s for seeds in (config.get("method_seeds") or {}).values() for s in seeds}
    trained |= {s for entry in ablation.get("point_seeds") or [] for s in entry["seeds"]}
    for name, spec in config["attacks"].items():
        never = sorted(set(spec.get("seeds", [])) - trained)
        if never:
            raise ConfigError(
                f"attacks.{name}.seeds: {never} train no model (seeds: {sorted(config['seeds'])}, "
                f"ablation.seeds: {sorted(ablation['seeds'])})"
            )
    for dataset, dcfg in config["datasets"].items():
        bad = unsupported_augment(dataset, dcfg.get("augment", []))
        if bad:
            raise ConfigError(
                f"datasets.{dataset}.augment: {bad} would change {dataset}'s labels "
                f"(supported for {dataset}: {sorted(supported_augment(dataset))})"
            )
    for dataset, dcfg in config["datasets"].items():
        for i, floor in enumerate(dcfg.get("floors", [])):
            where = f"datasets.{dataset}.floors[{i}]"
            if floor["method"] not in config["methods"]:
                raise ConfigError(
                    f"{where}.method: {floor['method']!r} is not in methods {sorted(config['methods'])}"
                )
            if "worst" in floor and not any(abs(floor["eps"] - e) < 1e-9 for e in dcfg["eps"]):
                raise ConfigError(
                    f"{where}.eps: {floor['eps']} is not one of datasets.{dataset}.eps {dcfg['eps']}"
                )
    bench = config["benchmark"]
    if bench["enabled"] and bench["dataset"] not in config["datasets"]:
        raise ConfigError(
            f"benchmark.dataset: {bench['dataset']!r} is not in datasets {sorted(config['datasets'])}"
        )


def method_hparams(settings: Mapping[str, Any], method: str, hp: Mapping[str, Any]) -> dict[str, Any]:
    """A run's hyper-parameters plus what its dataset's ``settings`` fix (the training ε)."""
    if registry.method(method).trains_on_eps:
        return {**hp, "eps": settings["train_eps"]}
    return dict(hp)


# What each stage's job reads: keys of its dataset's section, then whole top-level sections.
# The rule passes exactly these as its params (the rerun trigger) and the job is given nothing
# else of the config, so what triggers a rerun is what the job uses (tests/test_dataflow.py).
STAGE_KEYS: dict[str, tuple[str, ...]] = {
    "train": (
        "arch",
        "train_subset",
        "epochs",
        "batch_size",
        "optimizer",
        "train_eps",
        "eps_ramp",
        "augment",
        "crop_padding",
        "validation",
        "eval_batch_size",  # test and training accuracy after training
    ),
    "evaluate": ("eps", "eps_l2", "eval_subset", "eval_seed", "eval_batch_size"),
    "saliency": ("eval_subset", "eval_seed", "eval_batch_size", "saliency_images", "figure_images"),
    "benchmark": ("arch", "train_eps"),
}
STAGE_SECTIONS: dict[str, tuple[str, ...]] = {
    "train": ("divergence",),  # decides train.json's status
    "evaluate": (),
    "saliency": (),
    "benchmark": ("benchmark", "methods"),
}


# What a method's recipe (datasets.<d>.recipes.<method>) may override in its training settings.
RECIPE_KEYS = ("epochs", "batch_size", "optimizer", "eps_ramp")


def recipe(config: Mapping[str, Any], dataset: str, method: str) -> dict[str, Any]:
    """The training keys of RECIPE_KEYS that ``method``'s runs on ``dataset`` use: its recipe's
    where it has one, the dataset's otherwise. A recipe's optimizer replaces the dataset's whole
    (validation filled its schema defaults), it is never merged with it."""
    dcfg = config["datasets"][dataset]
    own = dcfg.get("recipes", {}).get(method, {})
    return {k: own.get(k, dcfg[k]) for k in RECIPE_KEYS}


def stage_settings(
    config: Mapping[str, Any], dataset: str, stage: str, method: str | None = None, **extra: Any
) -> str:
    """Canonical JSON of what `stage`'s job reads for `dataset` (a rule's params): order-free at
    the top level, so a rule reruns only when its own settings change; lists keep their order.
    ``method`` (train only): the settings of that method's runs, its recipe applied."""
    dcfg = config["datasets"][dataset]
    # Every key has a schema default but `validation` (absent: none): a config that was not
    # loaded fails here rather than run with a default of its own.
    settings = {k: dcfg.get(k) if k == "validation" else dcfg[k] for k in STAGE_KEYS[stage]}
    if method is not None:
        if stage != "train":
            raise ValueError(f"a method's recipe applies to training only, not to {stage!r}")
        settings.update(recipe(config, dataset, method))
    settings.update({k: config[k] for k in STAGE_SECTIONS[stage]})
    return json.dumps({**settings, **extra}, sort_keys=True)


def report_settings(config: Mapping[str, Any]) -> str:
    """What the render job reads (its rule's params, so that editing one re-renders): the λ rule, the
    claims' equivalence margins, the quality floors and the departures. Everything else the report
    says comes from the result files."""
    from .departures import departures

    return json.dumps(
        {
            "lambda_rule": (config.get("ablation") or {}).get("lambda_rule"),
            "smallest_effect": (config.get("claims") or {}).get("smallest_effect"),
            "floors": {d: c.get("floors", []) for d, c in config["datasets"].items()},
            "departures": departures(config),
        },
        sort_keys=True,
        default=str,
    )


def benchmark_settings(config: Mapping[str, Any]) -> str:
    """What the cost benchmark reads: its section, the methods, and its dataset's model and ε."""
    return stage_settings(config, config["benchmark"]["dataset"], "benchmark")


def attack_suite(config: Mapping[str, Any], names: Any = None) -> list[list[Any]]:
    """``[name, spec]`` of the attacks ``names`` (default: all) in config order: a list, because
    the evaluate job runs them in this order (cheap to expensive, as written)."""
    chosen = set(config["attacks"] if names is None else names)
    unknown = sorted(chosen - set(config["attacks"]))
    if unknown:
        raise ValueError(
            f"attacks {unknown} are not in the config's attacks section {sorted(config['attacks'])}"
        )
    return [[name, spec] for name, spec in config["attacks"].items() if name in chosen]


def read_settings(text: str) -> dict[str, Any]:
    """The settings a rule passed as params (inverse of :func:`stage_settings`)."""
    return json.loads(text)


def job_settings(
    config: Mapping[str, Any], dataset: str, stage: str, method: str | None = None, **extra: Any
) -> dict[str, Any]:
    """What `stage`'s rule passes its job, for callers outside Snakemake (CLI, benchmarks, tests)."""
    return read_settings(stage_settings(config, dataset, stage, method, **extra))


def execution(config: Mapping[str, Any]) -> dict[str, Any]:
    """How jobs run: device, threads, progress bars, data root, GPU speed settings, checkpoints.
    No result depends on these beyond floating-point noise, so they are no rerun trigger."""
    return {
        "device": config["device"],
        "threads": config["threads"],
        "progress": config["progress"],
        "data_root": config["data"]["root"],
        "cuda": config["cuda"],
        "checkpoint": config["checkpoint"],
    }


# The top-level key each resource falls back to (its default is the schema's).
_GLOBAL_RESOURCE = {"mem_mb": "mem_mb", "runtime_min": "runtime_min", "gpus": "gpus_per_job"}


def stage_resource(
    config: dict[str, Any], dataset: str | None, stage: str, key: str, attempt: int = 1
) -> int:
    """What one `stage` job of `dataset` reserves (mem_mb, runtime_min or gpus) on attempt `attempt`.

    Lookup: datasets.<d>.resources.<stage>.<key>, then resources.<stage>.<key>, then the global
    mem_mb / runtime_min / gpus_per_job. Memory and runtime grow by resources.retry_growth per retry:
    a job killed for its time or memory limit asks for more the next time. ``config``: loaded
    (:func:`load`), so every default is the schema's.
    """
    dcfg = config["datasets"].get(dataset)  # None: the benchmark's dataset need not be studied
    # Optional (the schema's default behind a $ref is not filled in): absent means none set.
    per_dataset = dcfg.get("resources", {}).get(stage, {}) if dcfg else {}
    per_stage = config["resources"].get(stage, {})
    value = per_dataset.get(key, per_stage.get(key, config[_GLOBAL_RESOURCE[key]]))
    if key == "gpus":
        return int(value)
    growth = float(config["resources"]["retry_growth"])
    return int(round(value * growth ** (max(1, attempt) - 1)))
