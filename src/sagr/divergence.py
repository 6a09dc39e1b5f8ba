"""Divergence is an error, not a result: decide from a finished run's numbers whether it trained.

A run whose loss exploded, or whose final training accuracy is at or below chance, has no
meaningful robustness: 0 % under every attack is then the model's failure, not a defence's
strength, and chance accuracy must never be read as gradient masking. Such a run is recorded
as ``status: "diverged"`` in train.json; the evaluation and saliency jobs write a record saying
so instead of attacking it, and the report lists it under "Failed runs".

The thresholds are the config's ``divergence:`` section (workflow/schemas/config.schema.yaml
documents each key and its default), passed to the train job as part of its settings.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

from sagr.job_records import DIVERGED, DIVERGED_NOTE, OK, TrainRecord

log = logging.getLogger("sagr")


def divergence_reason(
    history: Sequence[Mapping[str, float]],
    start_loss: float,
    train_accuracy: float,
    n_classes: int,
    where: str,
    max_loss_ratio: float,
    chance_margin: float,
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
    options: Mapping[str, float],
    n_classes: int,
    batch_size: int,
    where: str,
    history: Sequence[Mapping[str, float]],
    failure: str | None,
    model: Any,
    x: Any,
    y: Any,
    device: Any,
) -> dict[str, Any]:
    """train.json's ``status``, ``diverged_reason`` and ``train_accuracy`` of a finished (or failed) run.

    ``options``: the config's ``divergence:`` section; ``where``: "dataset run", for the reason.
    """
    from .train import accuracy

    train_acc = accuracy(model, x, y, batch_size, device)
    reason = failure or divergence_reason(
        history,
        math.log(n_classes),
        train_acc,
        n_classes,
        where,
        options["max_loss_ratio"],
        options["chance_margin"],
    )
    if reason:
        log.error("diverged: %s", reason)
    return {"status": DIVERGED if reason else OK, "diverged_reason": reason, "train_accuracy": train_acc}


def diverged_record(train_record: TrainRecord) -> dict[str, Any] | None:
    """What an evaluation/saliency job writes instead of attacking a diverged model; None if it trained."""
    if not train_record.diverged:
        return None
    return {"status": DIVERGED, "diverged_reason": train_record.diverged_reason, "note": DIVERGED_NOTE}
