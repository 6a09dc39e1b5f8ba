"""The one training loop every method shares; the method only supplies its objective."""
from __future__ import annotations

import logging
import sys
import time
from typing import Any, Mapping

import torch
from torch import Tensor, nn
from tqdm import tqdm

from .methods import get_objective

log = logging.getLogger("sagr")
# Training accuracy in the per-epoch log line: clean, eval mode, on this many training points.
LOG_ACC_POINTS = 1000


def make_optimizer(model: nn.Module, opt: Mapping[str, Any], epochs: int, steps_per_epoch: int):
    """Optimizer and per-step LR scheduler from the dataset's `optimizer` config."""
    params = model.parameters()
    if opt["name"] == "sgd":
        optimizer = torch.optim.SGD(params, lr=opt["lr"], momentum=opt["momentum"], weight_decay=opt["weight_decay"], nesterov=False)
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
    elif schedule == "multistep":
        milestones = [int(m * steps_per_epoch) for m in opt["milestones"]]
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=opt["gamma"])
    else:
        raise ValueError(f"unknown schedule {schedule!r}; expected constant, cosine or multistep")
    return optimizer, scheduler


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
) -> list[dict[str, float]]:
    """Train ``model`` in place with ``method``'s objective; returns per-epoch history.

    ``eps_ramp``: fraction of the training steps over which a training budget ``hp["eps"]``
    grows linearly from 0 (adversarial training at a large ε from scratch can stall at chance).
    """
    objective = get_objective(method)
    model.to(device).train()
    n = len(x)
    steps_per_epoch = (n + batch_size - 1) // batch_size
    optimizer, scheduler = make_optimizer(model, optimizer_cfg, epochs, steps_per_epoch)
    gen = torch.Generator().manual_seed(seed)
    history = []
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        order = torch.randperm(n, generator=gen)
        sums = {"loss": 0.0, "ce": 0.0, "reg": 0.0}
        bar = tqdm(range(steps_per_epoch), desc=f"{method} epoch {epoch}/{epochs}", disable=not (progress and sys.stderr.isatty()), mininterval=5)
        for step in bar:
            idx = order[step * batch_size : (step + 1) * batch_size]
            xb, yb = x[idx].to(device), y[idx].to(device)
            terms = objective(model, xb, yb, _ramped(hp, (epoch - 1) * steps_per_epoch + step, eps_ramp * epochs * steps_per_epoch))
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
        history.append({"epoch": epoch, **{k: v / n for k, v in sums.items()}, "time_s": round(time.perf_counter() - t0, 3)})
        _log_epoch(model, x, y, batch_size, device, epochs, history[-1],
                   _ramped(hp, epoch * steps_per_epoch - 1, eps_ramp * epochs * steps_per_epoch).get("eps"))
    model.eval()
    return history


def _log_epoch(model: nn.Module, x: Tensor, y: Tensor, batch_size: int, device: torch.device, epochs: int,
               row: Mapping[str, float], eps: float | None) -> None:
    """One readable log line per epoch; the accuracy pass draws no random numbers and updates no weights."""
    if not log.isEnabledFor(logging.INFO):
        return
    k = min(len(x), LOG_ACC_POINTS)
    acc = accuracy(model, x[:k], y[:k], batch_size, device)
    model.train()
    eps_text = f"{eps:.4g}" if eps is not None else "-"
    log.info("epoch %d/%d: loss %.4f (ce %.4f, reg %.4g), train acc %.4f (n=%d), eps %s, %.1fs",
             row["epoch"], epochs, row["loss"], row["ce"], row["reg"], acc, k, eps_text, row["time_s"])


def _ramped(hp: Mapping[str, Any], step: int, ramp_steps: float) -> Mapping[str, Any]:
    if "eps" not in hp or step >= ramp_steps:
        return hp
    return {**hp, "eps": hp["eps"] * (step + 1) / ramp_steps}


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int, device: torch.device) -> float:
    """Clean accuracy of ``model`` (eval mode) on (x, y)."""
    model.eval()
    correct = 0
    for i in range(0, len(x), batch_size):
        correct += (model(x[i : i + batch_size].to(device)).argmax(1).cpu() == y[i : i + batch_size]).sum().item()
    return correct / max(1, len(x))
