"""The one training loop every method shares; the method only supplies its objective."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm import tqdm

from .augment import augment_batch
from .checkpoint import load_latest, write_checkpoint
from .methods import get_objective
from .models import predict

log = logging.getLogger("sagr")
# Training accuracy in the per-epoch log line: clean, eval mode, on this many training points.
LOG_ACC_POINTS = 1000


def make_optimizer(model: nn.Module, opt: Mapping[str, Any], epochs: int, steps_per_epoch: int):
    """Optimizer and per-step LR scheduler from the dataset's `optimizer` config."""
    params = model.parameters()
    if opt["name"] == "sgd":
        optimizer = torch.optim.SGD(
            params, lr=opt["lr"], momentum=opt["momentum"], weight_decay=opt["weight_decay"], nesterov=False
        )
    elif opt["name"] == "adam":
        optimizer = torch.optim.Adam(params, lr=opt["lr"], weight_decay=opt["weight_decay"])
    else:
        raise ValueError(f"unknown optimizer {opt['name']!r}; expected sgd or adam")
    total = max(1, epochs * steps_per_epoch)
    schedule = opt["schedule"]
    if schedule == "constant":
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    elif schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    elif schedule == "onecycle":
        # Wong et al. 2020's cyclic schedule: linear from 0 to lr over `warmup` of the steps, then to 0.
        up = max(1, round(opt["warmup"] * total))
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            lambda step: (step + 1) / up if step < up else max(0.0, (total - step) / (total - up + 1)),
        )
    elif schedule == "multistep":
        milestones = [int(m * steps_per_epoch) for m in opt["milestones"]]
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=opt["gamma"])
    else:
        raise ValueError(f"unknown schedule {schedule!r}; expected constant, cosine, onecycle or multistep")
    return optimizer, scheduler


@dataclass
class Validation:
    """A held-out split on which PGD accuracy picks the best epoch (Rice et al. 2020)."""

    x: Tensor
    y: Tensor
    eps: float
    steps: int
    alpha_over_eps: float
    every: int = 1
    seed: int = 0
    batch_size: int = 500
    select_best: bool = True  # False: keep the last epoch's weights, record the curve only


@dataclass
class CheckpointPolicy:
    """Where and how often training saves a resumable checkpoint, and what run it belongs to."""

    path: Path
    identity: dict[str, Any]
    every_epochs: int = 1
    every_minutes: float | None = None


@dataclass
class TrainResult:
    """What training produced besides the weights."""

    history: list[dict[str, float]]
    val_history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int | None = None
    resumed_from: list[dict[str, int]] = field(default_factory=list)


def train_model(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    method: str,
    hp: Mapping[str, Any],
    epochs: int,
    batch_size: int,
    optimizer_cfg: Mapping[str, Any],
    seed: int,
    device: torch.device,
    progress: bool = True,
    eps_ramp: float = 0.0,
    **options: Any,
) -> list[dict[str, float]]:
    """Train ``model`` in place with ``method``'s objective; returns per-epoch history (see ``fit``)."""
    return fit(
        model,
        x,
        y,
        method,
        hp,
        epochs,
        batch_size,
        optimizer_cfg,
        seed,
        device,
        progress,
        eps_ramp,
        **options,
    ).history


def fit(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    method: str,
    hp: Mapping[str, Any],
    epochs: int,
    batch_size: int,
    optimizer_cfg: Mapping[str, Any],
    seed: int,
    device: torch.device,
    progress: bool = True,
    eps_ramp: float = 0.0,
    *,
    augment: Sequence[str] = (),
    crop_padding: int = 4,
    validation: Validation | None = None,
    checkpoint: CheckpointPolicy | None = None,
    data_on_device: bool = False,
) -> TrainResult:
    """Train ``model`` in place with ``method``'s objective.

    ``eps_ramp``: fraction of the training steps over which a training budget ``hp["eps"]``
    grows linearly from 0 (adversarial training at a large ε from scratch can stall at chance).
    ``augment``: "crop" / "flip" (sagr.augment), drawn from their own generator.
    ``validation``: after each ``every`` epochs, PGD accuracy on the held-out split; the model
    ends with the weights of the best epoch. ``checkpoint``: resume from it if present, save it
    every ``every_epochs`` epochs (and every ``every_minutes`` within an epoch). With all of them
    off, the RNG stream and the weights are those of the plain loop.
    """
    objective = get_objective(method)
    model.to(device).train()
    n = len(x)
    if data_on_device:
        x, y = x.to(device), y.to(device)
    steps_per_epoch = (n + batch_size - 1) // batch_size
    optimizer, scheduler = make_optimizer(model, optimizer_cfg, epochs, steps_per_epoch)
    gen = torch.Generator().manual_seed(seed)
    aug_gen = None
    if augment:
        aug_gen = torch.Generator(device=device if device.type == "cuda" else "cpu").manual_seed(seed + 7919)
    result = TrainResult(history=[])
    best_score, best_state = None, None
    start_epoch, start_step, resume_order, resume_sums = 1, 0, None, None
    state = load_latest(checkpoint.path, checkpoint.identity) if checkpoint else None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng_torch"])
        if device.type == "cuda" and state.get("rng_cuda") is not None:
            torch.cuda.set_rng_state(state["rng_cuda"], device)
        gen.set_state(state["rng_order"])
        if aug_gen is not None:
            aug_gen.set_state(state["rng_augment"])
        result.history, result.val_history = state["history"], state["val_history"]
        result.best_epoch, best_score, best_state = (
            state["best_epoch"],
            state["best_score"],
            state["best_state"],
        )
        result.resumed_from = state["resumed_from"] + [
            {"epoch": int(state["epoch"]), "step": int(state["step"])}
        ]
        start_epoch, start_step = int(state["epoch"]), int(state["step"])
        resume_order, resume_sums = state["order"], state["sums"]
        log.info(
            "%s: resumed from checkpoint %s at epoch %d, step %d",
            method,
            checkpoint.path,
            start_epoch,
            start_step,
        )
        del state

    def save(next_epoch: int, next_step: int, order: Tensor | None, sums: dict[str, float] | None) -> None:
        write_checkpoint(
            checkpoint.path,
            {
                "identity": checkpoint.identity,
                "epoch": next_epoch,
                "step": next_step,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng_torch": torch.get_rng_state(),
                "rng_cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
                "rng_order": gen.get_state(),
                "rng_augment": aug_gen.get_state() if aug_gen is not None else None,
                "order": order,
                "sums": sums,
                "history": result.history,
                "val_history": result.val_history,
                "best_epoch": result.best_epoch,
                "best_score": best_score,
                "best_state": best_state,
                "resumed_from": result.resumed_from,
            },
        )

    last_save = time.monotonic()
    for epoch in range(start_epoch, epochs + 1):
        t0 = time.perf_counter()
        if resume_order is not None:
            order, sums, first_step = resume_order, dict(resume_sums), start_step
            resume_order = None
        else:
            order, first_step = torch.randperm(n, generator=gen), 0
            sums = {"loss": 0.0, "ce": 0.0, "reg": 0.0}
        bar = tqdm(
            range(first_step, steps_per_epoch),
            desc=f"{method} epoch {epoch}/{epochs}",
            disable=not (progress and sys.stderr.isatty()),
            mininterval=5,
        )
        for step in bar:
            idx = order[step * batch_size : (step + 1) * batch_size]
            xb, yb = x[idx].to(device), y[idx].to(device)
            if aug_gen is not None:
                xb = augment_batch(xb, augment, crop_padding, aug_gen)
            terms = objective(
                model,
                xb,
                yb,
                _ramped(hp, (epoch - 1) * steps_per_epoch + step, eps_ramp * epochs * steps_per_epoch),
            )
            if not torch.isfinite(terms.loss):
                raise FloatingPointError(f"{method}: non-finite loss at epoch {epoch}, step {step}")
            optimizer.zero_grad(set_to_none=True)
            terms.loss.backward()
            optimizer.step()
            scheduler.step()
            k = len(idx)
            sums["loss"] += terms.loss.item() * k
            sums["ce"] += terms.ce * k
            sums["reg"] += terms.reg * k
            bar.set_postfix(loss=f"{terms.loss.item():.3f}", reg=f"{terms.reg:.3g}")
            if (
                checkpoint
                and checkpoint.every_minutes
                and step + 1 < steps_per_epoch
                and time.monotonic() - last_save >= 60 * checkpoint.every_minutes
            ):
                save(epoch, step + 1, order, sums)
                last_save = time.monotonic()
        result.history.append(
            {
                "epoch": epoch,
                **{k: v / n for k, v in sums.items()},
                "time_s": round(time.perf_counter() - t0, 3),
            }
        )
        _log_epoch(
            model,
            x,
            y,
            batch_size,
            device,
            epochs,
            result.history[-1],
            _ramped(hp, epoch * steps_per_epoch - 1, eps_ramp * epochs * steps_per_epoch).get("eps"),
        )
        if validation is not None and (epoch % validation.every == 0 or epoch == epochs):
            record = validate(model, validation, device)
            result.val_history.append({"epoch": epoch, **record})
            score = (record["pgd_accuracy"], record["clean_accuracy"])
            better = best_score is None or tuple(score) > tuple(best_score)  # ties keep the earlier epoch
            if better or (not validation.select_best and epoch == epochs):
                best_score, result.best_epoch = list(score), epoch
                best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            log.info(
                "%s epoch %d: validation clean %.4f, PGD %.4f (best epoch %d)",
                method,
                epoch,
                record["clean_accuracy"],
                record["pgd_accuracy"],
                result.best_epoch,
            )
        if checkpoint and (epoch % checkpoint.every_epochs == 0 or epoch == epochs):
            save(epoch + 1, 0, None, None)
            last_save = time.monotonic()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return result


def validate(model: nn.Module, val: Validation, device: torch.device) -> dict[str, float]:
    """Clean and PGD accuracy on the validation split, from a private RNG (training's stream is untouched)."""
    import torchattacks

    was_training = model.training
    model.eval()
    attack = torchattacks.PGD(
        model, eps=val.eps, alpha=val.alpha_over_eps * val.eps, steps=val.steps, random_start=True
    )
    clean = robust = 0
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(val.seed)
        for i in range(0, len(val.x), val.batch_size):
            xb, yb = val.x[i : i + val.batch_size].to(device), val.y[i : i + val.batch_size].to(device)
            with torch.no_grad():
                clean += (model(xb).argmax(1) == yb).sum().item()
            xa = attack(xb, yb)
            with torch.no_grad():
                robust += (model(xa).argmax(1) == yb).sum().item()
    model.train(was_training)
    n = max(1, len(val.x))
    return {"clean_accuracy": clean / n, "pgd_accuracy": robust / n, "n": len(val.x)}


def _log_epoch(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    batch_size: int,
    device: torch.device,
    epochs: int,
    row: Mapping[str, float],
    eps: float | None,
) -> None:
    """One readable log line per epoch; the accuracy pass draws no random numbers and updates no weights."""
    if not log.isEnabledFor(logging.INFO):
        return
    k = min(len(x), LOG_ACC_POINTS)
    acc = accuracy(model, x[:k], y[:k], batch_size, device)
    model.train()
    eps_text = f"{eps:.4g}" if eps is not None else "-"
    log.info(
        "epoch %d/%d: loss %.4f (ce %.4f, reg %.4g), train acc %.4f (n=%d), eps %s, %.1fs",
        row["epoch"],
        epochs,
        row["loss"],
        row["ce"],
        row["reg"],
        acc,
        k,
        eps_text,
        row["time_s"],
    )


def _ramped(hp: Mapping[str, Any], step: int, ramp_steps: float) -> Mapping[str, Any]:
    if "eps" not in hp or step >= ramp_steps:
        return hp
    return {**hp, "eps": hp["eps"] * (step + 1) / ramp_steps}


def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int, device: torch.device) -> float:
    """Clean accuracy of ``model`` (eval mode) on (x, y)."""
    model.eval()
    correct = (predict(model, x, batch_size, device) == y.cpu()).sum().item()
    return correct / max(1, len(x))
