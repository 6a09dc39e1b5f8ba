"""Run names: a result's path spells out the method and hyper-parameters that made it.

``sagr_lam0.1_beta0.5_T1_decoupled_projection_n1_seed0`` decodes to method ``sagr``,
its hyper-parameters and seed, so ``snakemake results/mnist/<run>/model.pt`` trains
exactly that ablation point, whether or not the config lists it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import registry


@dataclass(frozen=True)
class Run:
    """One trained model: method, its hyper-parameters and seed."""

    method: str
    hparams: tuple[tuple[str, Any], ...]
    seed: int

    @property
    def hp(self) -> dict[str, Any]:
        return dict(self.hparams)

    @property
    def name(self) -> str:
        return encode_run(self.method, self.hp, self.seed)


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def make_run(method: str, hp: dict[str, Any], seed: int) -> Run:
    """A Run with hyper-parameters in the method's canonical order and types."""
    entry = registry.method(method)
    keys = entry.param_names
    missing = [k for k in keys if k not in hp]
    extra = [k for k in hp if k not in keys]
    if missing or extra:
        raise ValueError(
            f"method {method!r} takes hyper-parameters {list(keys)}; missing {missing}, unknown {extra}"
        )
    typed = []
    for param in entry.hparams:
        try:
            typed.append((param.name, param.parse(hp[param.name])))
        except ValueError as err:
            raise ValueError(f"{method}.{err}") from None
    return Run(method, tuple(typed), int(seed))


def encode_run(method: str, hp: dict[str, Any], seed: int) -> str:
    """The run name: method, then each hyper-parameter as prefix+value, then seed."""
    run = make_run(method, hp, seed)
    entry = registry.method(method)
    tokens = (
        [method]
        + [p.prefix + _fmt(v) for p, (_, v) in zip(entry.hparams, run.hparams, strict=True)]
        + [f"seed{run.seed}"]
    )
    return "_".join(tokens)


def _pattern(entry: registry.Method) -> str:
    """The run-name pattern of a method, for error messages."""
    tokens = [
        p.prefix + ("" if isinstance(p.kind, tuple) and p.prefix else f"<{p.name}>") for p in entry.hparams
    ]
    return "_".join([entry.name, *tokens, "seed<n>"])


def decode_run(name: str) -> Run:
    """Inverse of encode_run; a clear error naming what does not parse."""
    known = registry.methods()
    method = max((m for m in known if name == m or name.startswith(m + "_")), key=len, default=None)
    if method is None:
        raise ValueError(f"run {name!r} does not start with a known method {sorted(known)}")
    entry = known[method]
    tokens = name[len(method) + 1 :].split("_")
    if len(tokens) != len(entry.hparams) + 1 or not tokens[-1].startswith("seed"):
        raise ValueError(f"run {name!r} does not match the pattern {_pattern(entry)}")
    hp: dict[str, Any] = {}
    for param, token in zip(entry.hparams, tokens[:-1], strict=True):
        if not token.startswith(param.prefix):
            raise ValueError(
                f"run {name!r}: token {token!r} should start with {param.prefix!r} ({param.name})"
            )
        raw = token[len(param.prefix) :]
        try:
            hp[param.name] = raw if isinstance(param.kind, tuple) else param.kind(raw)
        except ValueError:
            raise ValueError(
                f"run {name!r}: {param.name} value {raw!r} is not a {param.kind.__name__}"
            ) from None
    try:
        seed = int(tokens[-1][4:])
    except ValueError:
        raise ValueError(f"run {name!r}: bad seed token {tokens[-1]!r}") from None
    run = make_run(method, hp, seed)
    if run.name != name:
        raise ValueError(f"run {name!r} is not in canonical form; write it as {run.name!r}")
    _check_like_the_config(name, run)
    return run


def _check_like_the_config(name: str, run: Run) -> None:
    """Hold each value a run name spells out to the rules of its config key: finite, and within the
    config schema's bounds (a target must not train what the config would refuse)."""
    import jsonschema

    from .schema import _schema  # the config's own schema (cached; read, never changed here)

    props = _schema()["properties"]
    params = props["methods"]["properties"][run.method]["properties"]
    rules = {k: (f"methods.{run.method}.{k}", params[k]) for k in run.hp}
    rules["seed"] = ("seeds", props["seeds"]["items"])
    for key, value in {**run.hp, "seed": run.seed}.items():
        where, rule = rules[key]
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(
                f"run {name!r}: {key} = {value} is not allowed; every number must be finite ({where})"
            )
        error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(rule).iter_errors(value))
        if error is not None:
            raise ValueError(
                f"run {name!r}: {key} = {error.message} (the bound of {where} in the config schema)"
            )


@dataclass
class ManifestEntry:
    """A run of one dataset, and the report sections it belongs to."""

    dataset: str
    run: Run
    main: bool = False
    sweeps: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "run": self.run.name,
            "method": self.run.method,
            "seed": self.run.seed,
            "hparams": self.run.hp,
            "main": self.main,
            "sweeps": self.sweeps,
        }


def manifest(config: dict) -> list[ManifestEntry]:
    """Every (dataset, run) the (loaded) config asks for: main comparison and ablation sweeps."""
    entries: dict[tuple[str, str], ManifestEntry] = {}

    def add(dataset: str, run: Run) -> ManifestEntry:
        return entries.setdefault((dataset, run.name), ManifestEntry(dataset, run))

    methods = config["methods"]
    for dataset in config["datasets"]:
        for method, hp in methods.items():
            for seed in main_seeds(config, method):
                add(dataset, make_run(method, hp, seed)).main = True
    ablation = config["ablation"]
    for dataset in ablation["datasets"]:
        for method, sweeps in ablation["sweeps"].items():
            for param, values in sweeps.items():
                for value in values:
                    for seed in point_seeds(ablation, method, param, value):
                        run = make_run(method, {**methods[method], param: value}, seed)
                        add(dataset, run).sweeps.append({"param": param, "value": run.hp[param]})
    return list(entries.values())


def main_seeds(config: Mapping[str, Any], method: str) -> list[int]:
    """The seeds ``method``'s main-comparison models are trained at: its own (``method_seeds``) or
    the study's."""
    return list((config.get("method_seeds") or {}).get(method, config["seeds"]))


def point_seeds(ablation: Mapping[str, Any], method: str, param: str, value: Any) -> list[int]:
    """The seeds one sweep point is trained at: its own (``ablation.point_seeds``) or the ablation's."""
    for entry in ablation.get("point_seeds") or []:
        if (entry["method"], entry["param"]) == (method, param) and same_value(entry["value"], value):
            return list(entry["seeds"])
    return list(ablation["seeds"])


def same_value(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)
    return a == b


def result_paths(entries: Iterable[ManifestEntry], pattern: str) -> list[str]:
    """Format ``pattern`` ({dataset}, {run}) for every entry."""
    return [pattern.format(dataset=e.dataset, run=e.run.name) for e in entries]
