"""Typed registries: every training method, dataset and architecture is one entry, declared once.

A method is one module in :mod:`sagr.defenses` that calls :func:`register`; the run-name codec
(:mod:`sagr.runs`), the config schema's method part (:mod:`sagr.config`), the training ε
(``method_hparams``), labels and orders, the benchmark's variants and the departures text all
derive from the entries. A dataset is one :class:`Dataset` in ``DATASETS`` (label, split sizes,
augmentations, shape, normalisation, raw files and their MD5s): the data module, the cache, the
config's checks and schema and the labels read it there, at call time. An architecture is one
:class:`Arch` in ``ARCHS`` (label, factory). This module and every defense module are read when
the Snakefile is parsed, so none imports torch at module level: an entry names its objective or
factory as ``"module:function"`` and its torchvision class by name, resolved on first use.
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


@dataclass(frozen=True, kw_only=True)
class Dataset:
    """A dataset the pipeline knows, everything about it in one place: label, order, split sizes, the
    augmentations that keep its labels, image shape, normalisation, and the raw files torchvision
    reads (with the publisher's MD5s, which alone make a file trusted: see sagr.data). Fields are
    keyword-only: an entry names every value it gives."""

    name: str
    label: str
    rank: int  # position in tables and figures
    n_train: int  # images per split (the cache's info JSON has the last word: stand-ins are smaller)
    n_test: int
    n_classes: int
    in_channels: int
    image_size: int
    # Per-channel statistics of the training set, for the model's Normalize layer.
    mean: tuple[float, ...]
    std: tuple[float, ...]
    dark_background: bool  # a light object on a black background (the saliency foreground mask)
    torchvision: str  # the class in torchvision.datasets that downloads and reads the raw files
    # (path relative to the data root, canonical MD5 of that file) for every raw file torchvision reads.
    files: tuple[tuple[str, str], ...]
    tv_subdir: str = ""  # torchvision's `root` argument relative to the data root ("" = the root)
    # Digits are not mirror-invariant (2/5, 3/E, 7), so SVHN and MNIST get no flip.
    augmentations: frozenset[str] = frozenset({"crop", "flip"})
    in_study: bool = True  # one of METHOD.md's study datasets (CIFAR-100 is optional there)

    def split_size(self, split: str) -> int:
        """Images in ``split`` ("train" or "test") of the official release."""
        return {"train": self.n_train, "test": self.n_test}[split]


def idx_files(folder: str, md5s: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The raw idx files of an MNIST-like dataset (torchvision's ``<folder>/raw/<stem>``) with their MD5s."""
    return tuple((f"{folder}/raw/{stem}", md5) for stem, md5 in md5s.items())


def in_folder(folder: str, md5s: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """Files of one folder with their MD5s (CIFAR's batches, SVHN's .mat files)."""
    return tuple((f"{folder}/{name}", md5) for name, md5 in md5s.items())


@dataclass(frozen=True)
class Arch:
    """A model architecture: its config key, display label and factory."""

    name: str
    label: str
    # "module:function" taking (n_classes, in_channels, image_size) and returning an nn.Module.
    factory: str

    def load_factory(self) -> Callable:
        """The factory function (imports its module, and with it torch)."""
        module, _, function = self.factory.partition(":")
        return getattr(importlib.import_module(module), function)


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


# Canonical MD5s of the *decompressed* idx files (torchvision lists only the .gz archives' MD5s);
# they equal the entries of the shared mirror's MD5SUMS. CIFAR's and SVHN's are torchvision's own
# (tests/test_registry.py holds them to the installed torchvision's lists).
_MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
_FASHION_MD5 = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}
_CIFAR10_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}
_CIFAR100_MD5 = {
    "train": "16019d7e3df5f24257cddd939b257f8d",
    "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
    "meta": "7973b15100ade9c7d40fb424638fde48",
}
_SVHN_MD5 = {
    "train_32x32.mat": "e26dedcc434d2e4c54c9b2d4a06d8373",
    "test_32x32.mat": "eb5a983be6a315427106f1b164d9cef3",
}

# Means/stds are the per-channel statistics of each training set (MNIST/Fashion computed on the mirror).
DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            name="mnist", label="MNIST", rank=0,
            n_train=60000, n_test=10000, n_classes=10, in_channels=1, image_size=28,
            mean=(0.1307,), std=(0.3081,), dark_background=True,
            torchvision="MNIST", files=idx_files("MNIST", _MNIST_MD5),
            augmentations=frozenset({"crop"}),
        ),
        Dataset(
            name="fashion_mnist", label="Fashion-MNIST", rank=1,
            n_train=60000, n_test=10000, n_classes=10, in_channels=1, image_size=28,
            mean=(0.2860,), std=(0.3530,), dark_background=True,
            torchvision="FashionMNIST", files=idx_files("FashionMNIST", _FASHION_MD5),
        ),
        Dataset(
            name="cifar10", label="CIFAR-10", rank=2,
            n_train=50000, n_test=10000, n_classes=10, in_channels=3, image_size=32,
            mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616), dark_background=False,
            torchvision="CIFAR10", files=in_folder("cifar-10-batches-py", _CIFAR10_MD5),
        ),
        Dataset(
            name="cifar100", label="CIFAR-100", rank=3,
            n_train=50000, n_test=10000, n_classes=100, in_channels=3, image_size=32,
            mean=(0.5071, 0.4865, 0.4409), std=(0.2673, 0.2564, 0.2762), dark_background=False,
            torchvision="CIFAR100", files=in_folder("cifar-100-python", _CIFAR100_MD5),
            in_study=False,
        ),
        Dataset(
            name="svhn", label="SVHN", rank=4,
            n_train=73257, n_test=26032, n_classes=10, in_channels=3, image_size=32,
            mean=(0.4377, 0.4438, 0.4728), std=(0.1980, 0.2010, 0.1970), dark_background=False,
            torchvision="SVHN", files=in_folder("SVHN", _SVHN_MD5), tv_subdir="SVHN",
            augmentations=frozenset({"crop"}),
        ),
    )
}  # fmt: skip

_M = "sagr.models:"
ARCHS: dict[str, Arch] = {
    a.name: a
    for a in (
        Arch("small_cnn", "small CNN", _M + "small_cnn"),
        Arch("small_cnn_wide", "small CNN (wide)", _M + "small_cnn_wide"),
        Arch("preact_resnet18", "PreActResNet-18", _M + "preact_resnet18"),
        Arch("preact_resnet18_tiny", "PreActResNet-18 (tiny)", _M + "preact_resnet18_tiny"),
        Arch("wrn34_10", "WRN-34-10", _M + "wrn34_10"),
    )
}


def dataset(name: str) -> Dataset:
    """The entry of dataset ``name``; a clear error for an unknown name."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; valid: {sorted(DATASETS)}") from None


def arch(name: str) -> Arch:
    """The entry of architecture ``name``; a clear error for an unknown name."""
    try:
        return ARCHS[name]
    except KeyError:
        raise ValueError(f"unknown arch {name!r}; valid: {sorted(ARCHS)}") from None


def method_label(name: str) -> str:
    """Display label of a method key (the key itself if unknown)."""
    entry = methods().get(name)
    return entry.label if entry else name


def dataset_label(name: str) -> str:
    """Display label of a dataset key (the key itself if unknown)."""
    entry = DATASETS.get(name)
    return entry.label if entry else name


def arch_label(name: str) -> str:
    """Display label of an architecture key (the key itself if unknown)."""
    entry = ARCHS.get(name)
    return entry.label if entry else name


def method_order() -> list[str]:
    """Method keys in report order."""
    return list(methods())
