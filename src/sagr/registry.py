"""Typed registries: every training method and dataset is one entry, declared once.

A method is one module in :mod:`sagr.defenses` that calls :func:`register`; the run-name codec
(:mod:`sagr.runs`), the config schema's method part (:mod:`sagr.config`), the training ε
(``method_hparams``), labels and orders, the benchmark's variants and the departures text all
derive from the entries. This module and every defense module are read when the Snakefile is
parsed, so none imports torch at module level: an entry names its objective as
``"module:function"``, resolved on first use.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Kind = type | tuple[str, ...]


@dataclass(frozen=True)
class HParam:
    """One hyper-parameter: its run-name token, value type (or allowed values) and value schema."""

    name: str
    prefix: str  # token prefix in the run name; "" for a choice, whose value names itself
    kind: Kind  # float, int, or the tuple of allowed strings
    description: str
    schema: Mapping[str, Any] = field(default_factory=dict)  # JSON-schema bounds of one value
    sweepable: bool = True  # may be swept in the config's ablation section

    def parse(self, value: Any) -> Any:
        """``value`` in its canonical type; ValueError naming the allowed values otherwise."""
        if isinstance(self.kind, tuple):
            if value not in self.kind:
                raise ValueError(f"{self.name} must be one of {self.kind}, got {value!r}")
            return value
        if self.kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError(f"{self.name} must be an integer, got {value!r}")
        return self.kind(value)

    def json_schema(self) -> dict[str, Any]:
        """JSON schema of one value (the config's `methods.<m>.<name>`)."""
        if isinstance(self.kind, tuple):
            base: dict[str, Any] = {"type": "string", "enum": list(self.kind)}
        else:
            base = {"type": "integer" if self.kind is int else "number"}
        return {**base, **self.schema, "description": self.description}


@dataclass(frozen=True)
class Variant:
    """A configuration of a method the cost benchmark times, and its cost goal (× standard)."""

    label: str
    hparams: Mapping[str, Any]
    goal: float | str | None = None


@dataclass(frozen=True)
class Method:
    """A training method: its name, display label, objective and hyper-parameters."""

    name: str
    label: str
    objective: str  # "module:function" with the signature of sagr.methods.Objective
    rank: int  # position in tables and figures (baselines first, SAGR last)
    hparams: tuple[HParam, ...] = ()
    trains_on_eps: bool = False  # takes the dataset's training budget `eps` (and its ramp)
    # Benchmark variants from the configured hyper-parameters; default: the configuration itself.
    variants: Callable[[Mapping[str, Any]], list[Variant]] | None = None
    summary: str = ""  # one line for the report and the docs
    departure: str = ""  # where the implementation departs from the method's reference, for the report

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.hparams)

    def param(self, name: str) -> HParam:
        for p in self.hparams:
            if p.name == name:
                return p
        raise KeyError(
            f"method {self.name!r} has no hyper-parameter {name!r}; it takes {list(self.param_names)}"
        )

    def load_objective(self) -> Callable:
        """The objective function (imports its module, and with it torch)."""
        module, _, function = self.objective.partition(":")
        return getattr(importlib.import_module(module), function)

    def bench_variants(self, hp: Mapping[str, Any]) -> list[Variant]:
        return self.variants(hp) if self.variants else [Variant("", dict(hp))]


@dataclass(frozen=True)
class Dataset:
    """A dataset the pipeline knows: its label, split sizes and the augmentations that keep its labels
    (its torchvision class, files and statistics live in sagr.data, which needs torch)."""

    name: str
    label: str
    rank: int
    n_train: int
    n_test: int
    # Digits are not mirror-invariant (2/5, 3/E, 7), so SVHN and MNIST get no flip.
    augmentations: frozenset[str] = frozenset({"crop", "flip"})
    in_study: bool = True  # one of METHOD.md's study datasets (CIFAR-100 is optional there)


_METHODS: dict[str, Method] = {}
_LOADED = False


def register(method: Method) -> Method:
    """Add ``method`` to the registry (called once by its module in sagr.defenses)."""
    if method.name in _METHODS and _METHODS[method.name] != method:
        raise ValueError(f"method {method.name!r} is registered twice")
    _METHODS[method.name] = method
    return method


def _load() -> None:
    """Import every module of sagr.defenses once, so that each registers its method."""
    global _LOADED
    if _LOADED:
        return
    from . import defenses

    for info in sorted(pkgutil.iter_modules(defenses.__path__), key=lambda i: i.name):
        importlib.import_module(f"{defenses.__name__}.{info.name}")
    _LOADED = True


def methods() -> dict[str, Method]:
    """Every registered method, in report order."""
    _load()
    return dict(sorted(_METHODS.items(), key=lambda kv: (kv[1].rank, kv[0])))


def method(name: str) -> Method:
    """The entry of ``name``; a clear error for an unknown name."""
    registry = methods()
    try:
        return registry[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; expected one of {sorted(registry)}") from None


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset("mnist", "MNIST", 0, 60000, 10000, frozenset({"crop"})),
        Dataset("fashion_mnist", "Fashion-MNIST", 1, 60000, 10000),
        Dataset("cifar10", "CIFAR-10", 2, 50000, 10000),
        Dataset("cifar100", "CIFAR-100", 3, 50000, 10000, in_study=False),
        Dataset("svhn", "SVHN", 4, 73257, 26032, frozenset({"crop"})),
    )
}


def method_label(name: str) -> str:
    """Display label of a method key (the key itself if unknown)."""
    entry = methods().get(name)
    return entry.label if entry else name


def dataset_label(name: str) -> str:
    """Display label of a dataset key (the key itself if unknown)."""
    entry = DATASETS.get(name)
    return entry.label if entry else name


def method_order() -> list[str]:
    """Method keys in report order."""
    return list(methods())
