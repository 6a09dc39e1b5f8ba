"""Run names: a result's path spells out the method and hyper-parameters that made it.

``sagr_lam0.1_beta0.5_T1_decoupled_projection_n1_seed0`` decodes to method ``sagr``,
its hyper-parameters and seed, so ``snakemake results/mnist/<run>/model.pt`` trains
exactly that ablation point, whether or not the config lists it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from .methods import ESTIMATORS, FORMS, METHOD_PARAMS

# param -> (prefix in the run name, type or allowed values)
_CODEC: dict[str, tuple[str, Any]] = {
    "lam": ("lam", float),
    "beta": ("beta", float),
    "T": ("T", float),
    "form": ("", FORMS),
    "estimator": ("", ESTIMATORS),
    "n_proj": ("n", int),
    "steps": ("K", int),
    "alpha_over_eps": ("a", float),
    "beta_trades": ("bt", float),
}

# Swept around the default point in the ablation section.
SWEEPABLE = ("lam", "beta", "T", "form", "estimator", "n_proj")


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
    if method not in METHOD_PARAMS:
        raise ValueError(f"unknown method {method!r}; expected one of {sorted(METHOD_PARAMS)}")
    keys = METHOD_PARAMS[method]
    missing = [k for k in keys if k not in hp]
    extra = [k for k in hp if k not in keys]
    if missing or extra:
        raise ValueError(f"method {method!r} takes hyper-parameters {list(keys)}; missing {missing}, unknown {extra}")
    typed = []
    for k in keys:
        kind = _CODEC[k][1]
        value = hp[k]
        if isinstance(kind, tuple):
            if value not in kind:
                raise ValueError(f"{method}.{k} must be one of {kind}, got {value!r}")
        else:
            value = kind(value)
        typed.append((k, value))
    return Run(method, tuple(typed), int(seed))


def encode_run(method: str, hp: dict[str, Any], seed: int) -> str:
    """The run name: method, then each hyper-parameter as prefix+value, then seed."""
    run = make_run(method, hp, seed)
    tokens = [method] + [_CODEC[k][0] + _fmt(v) for k, v in run.hparams] + [f"seed{run.seed}"]
    return "_".join(tokens)


def decode_run(name: str) -> Run:
    """Inverse of encode_run; a clear error naming what does not parse."""
    method = max((m for m in METHOD_PARAMS if name == m or name.startswith(m + "_")), key=len, default=None)
    if method is None:
        raise ValueError(f"run {name!r} does not start with a known method {sorted(METHOD_PARAMS)}")
    tokens = name[len(method) + 1 :].split("_")
    keys = METHOD_PARAMS[method]
    if len(tokens) != len(keys) + 1 or not tokens[-1].startswith("seed"):
        expected = "_".join([method] + [(_CODEC[k][0] or "<" + k + ">") + ("" if isinstance(_CODEC[k][1], tuple) else "<" + k + ">") for k in keys] + ["seed<n>"])
        raise ValueError(f"run {name!r} does not match the pattern {expected}")
    hp: dict[str, Any] = {}
    for key, token in zip(keys, tokens):
        prefix, kind = _CODEC[key]
        if not token.startswith(prefix):
            raise ValueError(f"run {name!r}: token {token!r} should start with {prefix!r} ({key})")
        raw = token[len(prefix) :]
        try:
            hp[key] = raw if isinstance(kind, tuple) else kind(raw)
        except ValueError:
            raise ValueError(f"run {name!r}: {key} value {raw!r} is not a {kind.__name__}") from None
    try:
        seed = int(tokens[-1][4:])
    except ValueError:
        raise ValueError(f"run {name!r}: bad seed token {tokens[-1]!r}") from None
    run = make_run(method, hp, seed)
    if run.name != name:
        raise ValueError(f"run {name!r} is not in canonical form; write it as {run.name!r}")
    return run


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
    """Every (dataset, run) the config asks for: main comparison and ablation sweeps."""
    entries: dict[tuple[str, str], ManifestEntry] = {}

    def add(dataset: str, run: Run) -> ManifestEntry:
        return entries.setdefault((dataset, run.name), ManifestEntry(dataset, run))

    methods = config["methods"]
    for dataset in config["datasets"]:
        for method, hp in methods.items():
            for seed in config["seeds"]:
                add(dataset, make_run(method, hp, seed)).main = True
    ablation = config.get("ablation") or {}
    for dataset in ablation.get("datasets", []):
        for method, sweeps in (ablation.get("sweeps") or {}).items():
            for param, values in sweeps.items():
                for value in values:
                    for seed in ablation.get("seeds", [config["seeds"][0]]):
                        run = make_run(method, {**methods[method], param: value}, seed)
                        add(dataset, run).sweeps.append({"param": param, "value": run.hp[param]})
    return list(entries.values())


def result_paths(entries: Iterable[ManifestEntry], pattern: str) -> list[str]:
    """Format ``pattern`` ({dataset}, {run}) for every entry."""
    return [pattern.format(dataset=e.dataset, run=e.run.name) for e in entries]
