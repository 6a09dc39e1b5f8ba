"""Divergence is an error, not a result: decide from a finished run's numbers whether it trained.

A run whose loss exploded, or whose final training accuracy is at or below chance, has no
meaningful robustness: 0 % under every attack is then the model's failure, not a defence's
strength, and chance accuracy must never be read as gradient masking. Such a run is recorded
as ``status: "diverged"`` in train.json; the evaluation and saliency jobs write a record saying
so instead of attacking it, and the report lists it under "Failed runs".

Torch-free: the config checks import DEFAULTS at parse time.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# `divergence:` section of the config (workflow/schemas/config.schema.yaml documents each key).
DEFAULTS: dict[str, float] = {
    # Diverged when an epoch's mean loss exceeds this multiple of the loss at the start
    # (the untrained model's cross-entropy, ~ln C, or the first epoch's mean loss if larger).
    "max_loss_ratio": 100.0,
    # Diverged when the final training accuracy is at most chance (1/C) plus this margin.
    "chance_margin": 0.0,
}
DIVERGED = "diverged"
log = logging.getLogger("sagr")
OK = "ok"


def settings(config: Mapping[str, Any]) -> dict[str, float]:
    """The config's `divergence:` section over the defaults."""
    return {**DEFAULTS, **(config.get("divergence") or {})}


def divergence_reason(
    history: Sequence[Mapping[str, float]],
    start_loss: float,
    train_accuracy: float,
    n_classes: int,
    where: str,
    max_loss_ratio: float = DEFAULTS["max_loss_ratio"],
    chance_margin: float = DEFAULTS["chance_margin"],
) -> str | None:
    """Why the run diverged (a sentence naming ``where`` = "dataset run" and the epoch), or None.

    ``history``: per-epoch records with ``epoch`` and mean ``loss``; ``start_loss``: the loss
    before the first step (cross-entropy of the untrained model).
    """
    reference = max(start_loss, history[0]["loss"] if history else start_loss)
    for rec in history:
        loss = rec["loss"]
        if not math.isfinite(loss) or loss > max_loss_ratio * reference:
            return (
                f"{where}: training loss exploded at epoch {rec['epoch']}: mean loss {loss:.4g} > "
                f"{max_loss_ratio:g} x the loss at the start ({reference:.4g}) (divergence.max_loss_ratio)"
            )
    chance = 1.0 / n_classes
    if train_accuracy <= chance + chance_margin:
        epoch = history[-1]["epoch"] if history else 0
        return (
            f"{where}: final training accuracy {train_accuracy:.4f} after epoch {epoch} is at or below "
            f"chance ({chance:.4f} + margin {chance_margin:g}, divergence.chance_margin)"
        )
    return None


def judge(
    config: Mapping[str, Any],
    dataset: str,
    run_name: str,
    history: Sequence[Mapping[str, float]],
    failure: str | None,
    model: Any,
    x: Any,
    y: Any,
    device: Any,
) -> dict[str, Any]:
    """train.json's ``status``, ``diverged_reason`` and ``train_accuracy`` of a finished (or failed) run."""
    from . import cache
    from .train import accuracy

    n_classes = cache.facts(Path(config["data"]["root"]), dataset)["n_classes"]
    train_acc = accuracy(model, x, y, config["datasets"][dataset].get("eval_batch_size", 250), device)
    opts = settings(config)
    reason = failure or divergence_reason(
        history,
        math.log(n_classes),
        train_acc,
        n_classes,
        f"{dataset} {run_name}",
        opts["max_loss_ratio"],
        opts["chance_margin"],
    )
    if reason:
        log.error("diverged: %s", reason)
    return {"status": DIVERGED if reason else OK, "diverged_reason": reason, "train_accuracy": train_acc}


def diverged_record(train_record: Mapping[str, Any]) -> dict[str, Any] | None:
    """What an evaluation/saliency job writes instead of attacking a diverged model; None if it trained."""
    if train_record.get("status", OK) != DIVERGED:
        return None
    return {
        "status": DIVERGED,
        "diverged_reason": train_record.get("diverged_reason"),
        "note": "no robustness or saliency numbers: the model diverged in training (see train.json)",
    }
