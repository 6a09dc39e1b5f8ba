"""Published training settings of the CIFAR-10 / SVHN baselines, and how a config departs from them.

Source: Rice, Wong, Kolter, "Overfitting in adversarially robust deep learning", ICML 2020, and
their code (github.com/locuslab/robust_overfitting, train_cifar.py / train_svhn.py), PreActResNet-18.
Only settings stated there are listed; no value here is the SAGR paper's (its full text is not public).
Torch-free: read while building the report.
"""

from __future__ import annotations

from typing import Any

# dataset -> {setting: (published value, how to read it)}
PUBLISHED: dict[str, dict[str, Any]] = {
    "cifar10": {
        "arch": "preact_resnet18",
        "augment": ["crop", "flip"],
        "crop_padding": 4,
        "batch_size": 128,
        "optimizer.name": "sgd",
        "optimizer.lr": 0.1,
        "optimizer.momentum": 0.9,
        "optimizer.weight_decay": 5e-4,
        "optimizer.schedule": "multistep",
        "optimizer.milestones": [100, 150],
        "epochs": 200,
        "train_eps": 8 / 255,
        "validation.n": 1000,
    },
    "svhn": {
        "arch": "preact_resnet18",
        "augment": ["crop"],
        "batch_size": 128,
        "optimizer.name": "sgd",
        "optimizer.lr": 0.01,
        "optimizer.momentum": 0.9,
        "optimizer.weight_decay": 5e-4,
        "train_eps": 8 / 255,
        "validation.n": 1000,
    },
}


def _get(dcfg: dict[str, Any], dotted: str) -> Any:
    value: Any = dcfg
    for part in dotted.split("."):
        value = (value or {}).get(part) if isinstance(value, dict) or value is None else None
    return value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(b)))
    if isinstance(a, list) and isinstance(b, list):
        return sorted(map(str, a)) == sorted(map(str, b))
    return a == b


def training_departures(config: dict[str, Any]) -> list[str]:
    """One sentence per dataset whose training settings differ from the published ones."""
    out = []
    for dataset, published in PUBLISHED.items():
        dcfg = config["datasets"].get(dataset)
        if dcfg is None:
            continue
        diffs = [
            f"{key} {_get(dcfg, key)!r} (published: {value!r})"
            for key, value in published.items()
            if not _same(_get(dcfg, key), value)
        ]
        if diffs:
            out.append(
                f"{dataset} training differs from the published PreActResNet-18 setting (Rice et al., "
                f"ICML 2020): {'; '.join(diffs)}."
            )
    return out
