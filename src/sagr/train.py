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
    elapsed_s: float = 0.0  # seconds of training over every attempt (an earlier one up to its checkpoint)


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
    """Train ``model`` in place with ``method``'s objective: the plain loop, each further concern a
    named step beside it. ``eps_ramp``: fraction of the steps over which ``hp["eps"]`` grows from 0;
    ``augment``: "crop"/"flip" from their own generator; ``validation``: PGD accuracy on a held-out
    split every ``every`` epochs, the best epoch's weights kept; ``checkpoint``: resume from it if
    present, save it every ``every_epochs`` epochs (and ``every_minutes``). All off: the plain loop."""
    objective = get_objective(method)
    model.to(device).train()
    n = len(x)
    if data_on_device:
        x, y = x.to(device), y.to(device)
    steps_per_epoch = (n + batch_size - 1) // batch_size
    ramp_steps = eps_ramp * epochs * steps_per_epoch
    run = _Run.start(model, optimizer_cfg, epochs, steps_per_epoch, seed, device, bool(augment))
    run.resume(checkpoint, method)
    for epoch in range(run.epoch, epochs + 1):
        t0 = time.perf_counter()
        order, sums, first_step = run.epoch_order(n)
        bar = _progress_bar(first_step, steps_per_epoch, f"{method} epoch {epoch}/{epochs}", progress)
        for step in bar:
            idx = order[step * batch_size : (step + 1) * batch_size]
            xb, yb = x[idx].to(device), y[idx].to(device)
            if run.aug_gen is not None:
                xb = augment_batch(xb, augment, crop_padding, run.aug_gen)
            terms = objective(model, xb, yb, _ramped(hp, (epoch - 1) * steps_per_epoch + step, ramp_steps))
            run.descend(terms.loss, f"{method}: non-finite loss at epoch {epoch}, step {step}")
            _accumulate(sums, terms, len(idx))
            bar.set_postfix(loss=f"{terms.loss.item():.3f}", reg=f"{terms.reg:.3g}")
            if step + 1 < steps_per_epoch and run.minutes_due(checkpoint):
                run.save(checkpoint, epoch, step + 1, order, sums)
        run.result.history.append(_epoch_row(epoch, sums, n, t0))
        eps = _ramped(hp, epoch * steps_per_epoch - 1, ramp_steps).get("eps")
        _log_epoch(model, x, y, batch_size, device, epochs, run.result.history[-1], eps)
        if validation is not None and (epoch % validation.every == 0 or epoch == epochs):
            run.validate(validation, method, epoch, last=epoch == epochs)
        if checkpoint and (epoch % checkpoint.every_epochs == 0 or epoch == epochs):
            run.save(checkpoint, epoch + 1, 0, None, None)
    return run.finish()


def _progress_bar(first: int, steps: int, desc: str, progress: bool) -> tqdm:
    """The steps of one epoch, with a progress bar on a terminal only (job logs get one line per epoch)."""
    return tqdm(range(first, steps), desc=desc, disable=not (progress and sys.stderr.isatty()), mininterval=5)


def _epoch_row(epoch: int, sums: dict[str, float], n: int, t0: float) -> dict[str, float]:
    """The epoch's history row: mean loss terms per example and its wall time."""
    return {
        "epoch": epoch,
        **{k: v / n for k, v in sums.items()},
        "time_s": round(time.perf_counter() - t0, 3),
    }


def _accumulate(sums: dict[str, float], terms: Any, k: int) -> None:
    """Add one batch's loss terms, weighted by its size, to the epoch's sums."""
    sums["loss"] += terms.loss.item() * k
    sums["ce"] += terms.ce * k
    sums["reg"] += terms.reg * k


@dataclass
class _Run:
    """What a training run carries from step to step, and what a checkpoint saves and restores:
    the optimiser and schedule, both random streams, the history, the best epoch so far and where
    to continue (epoch, step, and a mid-epoch batch order and running sums)."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    gen: torch.Generator  # the batch order
    aug_gen: torch.Generator | None  # augmentation (None: off, nothing drawn)
    device: torch.device
    result: TrainResult = field(default_factory=lambda: TrainResult(history=[]))
    best_score: list[float] | None = None
    best_state: dict[str, Tensor] | None = None
    epoch: int = 1
    step: int = 0
    order: Tensor | None = None
    sums: dict[str, float] | None = None
    last_save: float = field(default_factory=time.monotonic)
    started: float = field(default_factory=time.perf_counter)
    elapsed_before: float = 0.0  # training seconds of the attempts before this one, up to the checkpoint

    @classmethod
    def start(
        cls,
        model: nn.Module,
        optimizer_cfg: Mapping[str, Any],
        epochs: int,
        steps_per_epoch: int,
        seed: int,
        device: torch.device,
        augment: bool,
    ) -> _Run:
        optimizer, scheduler = make_optimizer(model, optimizer_cfg, epochs, steps_per_epoch)
        gen = torch.Generator().manual_seed(seed)
        aug_gen = None
        if augment:
            aug_gen = torch.Generator(device=device if device.type == "cuda" else "cpu").manual_seed(
                seed + 7919
            )
        return cls(model, optimizer, scheduler, gen, aug_gen, device)

    def epoch_order(self, n: int) -> tuple[Tensor, dict[str, float], int]:
        """The epoch's batch order, running sums and first step: a resumed epoch's, or a fresh permutation."""
        if self.order is not None:
            out = (self.order, dict(self.sums), self.step)
            self.order = None
            return out
        return torch.randperm(n, generator=self.gen), {"loss": 0.0, "ce": 0.0, "reg": 0.0}, 0

    def descend(self, loss: Tensor, where: str) -> None:
        """One optimiser and schedule step on ``loss`` (a non-finite loss stops training, naming ``where``)."""
        if not torch.isfinite(loss):
            raise FloatingPointError(where)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()

    def validate(self, validation: Validation, method: str, epoch: int, last: bool) -> None:
        """PGD accuracy on the held-out split; keep this epoch's weights if it is the best so far (or,
        without selection, the last)."""
        record = validate(self.model, validation, self.device)
        self.result.val_history.append({"epoch": epoch, **record})
        score = (record["pgd_accuracy"], record["clean_accuracy"])
        better = self.best_score is None or tuple(score) > tuple(self.best_score)  # ties keep the earlier
        if better or (not validation.select_best and last):
            self.best_score, self.result.best_epoch = list(score), epoch
            self.best_state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
        log.info(
            "%s epoch %d: validation clean %.4f, PGD %.4f (best epoch %d)",
            method,
            epoch,
            record["clean_accuracy"],
            record["pgd_accuracy"],
            self.result.best_epoch,
        )

    def elapsed(self) -> float:
        """Seconds of training so far, over every attempt (a resumed run counts the earlier ones)."""
        return self.elapsed_before + time.perf_counter() - self.started

    def finish(self) -> TrainResult:
        """The selected weights into the model (the best epoch's, with validation), in eval mode."""
        self.result.elapsed_s = self.elapsed()
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        self.model.eval()
        return self.result

    def minutes_due(self, checkpoint: CheckpointPolicy | None) -> bool:
        """Whether a mid-epoch checkpoint is due (``every_minutes`` since the last save)."""
        return bool(
            checkpoint
            and checkpoint.every_minutes
            and time.monotonic() - self.last_save >= 60 * checkpoint.every_minutes
        )

    def resume(self, checkpoint: CheckpointPolicy | None, method: str) -> None:
        """Continue from the newest valid checkpoint of this run, if there is one."""
        state = load_latest(checkpoint.path, checkpoint.identity) if checkpoint else None
        if state is None:
            return
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng_torch"])
        if self.device.type == "cuda" and state.get("rng_cuda") is not None:
            torch.cuda.set_rng_state(state["rng_cuda"], self.device)
        self.gen.set_state(state["rng_order"])
        if self.aug_gen is not None:
            self.aug_gen.set_state(state["rng_augment"])
        self.result.history, self.result.val_history = state["history"], state["val_history"]
        self.result.best_epoch, self.best_score = state["best_epoch"], state["best_score"]
        self.best_state = state["best_state"]
        self.result.resumed_from = state["resumed_from"] + [
            {"epoch": int(state["epoch"]), "step": int(state["step"])}
        ]
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.order, self.sums = state["order"], state["sums"]
        self.elapsed_before = float(state.get("elapsed_s", 0.0))
        log.info(
            "%s: resumed from checkpoint %s at epoch %d, step %d",
            method,
            state["loaded_from"],  # the generation actually read (the newest may have been corrupt)
            self.epoch,
            self.step,
        )

    def save(
        self,
        checkpoint: CheckpointPolicy,
        next_epoch: int,
        next_step: int,
        order: Tensor | None,
        sums: dict[str, float] | None,
    ) -> None:
        """Everything `resume` needs to continue at (next_epoch, next_step) as if never stopped."""
        write_checkpoint(
            checkpoint.path,
            {
                "identity": checkpoint.identity,
                "epoch": next_epoch,
                "step": next_step,
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "rng_torch": torch.get_rng_state(),
                "rng_cuda": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
                "rng_order": self.gen.get_state(),
                "rng_augment": self.aug_gen.get_state() if self.aug_gen is not None else None,
                "order": order,
                "sums": sums,
                "history": self.result.history,
                "val_history": self.result.val_history,
                "best_epoch": self.result.best_epoch,
                "best_score": self.best_score,
                "best_state": self.best_state,
                "resumed_from": self.result.resumed_from,
                "elapsed_s": self.elapsed(),
            },
        )
        self.last_save = time.monotonic()


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
