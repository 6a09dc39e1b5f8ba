"""Running a suite on one model: the `plan`'s steps, each attack's outcomes into the `OutcomeTable`."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from tqdm.auto import tqdm

from ..models import predict
from .plan import Cascade, Step, plan
from .resume import SavedSteps
from .table import OutcomeTable

log = logging.getLogger("sagr")
_LINE = "attack %s eps=%g: accuracy %.4f (n=%d) in %.1fs"  # one line per attack × ε in the job's log


def _tty() -> bool:
    """A progress bar only on a terminal; job logs get one line per attack × ε instead."""
    return sys.stderr.isatty()


def run_suite(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    suite: dict,
    eps_linf: list[float],
    eps_l2: list[float],
    n_classes: int,
    batch_size: int,
    seed: int,
    device: torch.device | str,
    progress: bool = True,
    saved: SavedSteps | None = None,
) -> OutcomeTable:
    """Every (attack, ε) of the suite on (x, y) in [0,1], in the plan's order; the model's outcome table.

    Each attack at each ε runs on the points its step names (`sagr.robustness.plan`); a cascade
    attack sees what the attacks before it at that ε left robust, so the worst case over every
    attack is exact on every point, as if every attack had run on every point.

    ``saved``: the steps an interrupted attempt finished are taken from it, each new one is saved to it.
    """
    x, y = _inputs(x, y)
    model = model.to(device).eval()
    steps = plan(suite, eps_linf, eps_l2, len(x))
    t0 = time.perf_counter()
    clean_ok = predict(model, x, batch_size, device).numpy() == y.numpy()
    table = OutcomeTable.start(clean_ok, time.perf_counter() - t0)
    bar = tqdm(total=sum(len(s.eps) for s in steps), desc="attacks", disable=not progress or not _tty())
    cascade = Cascade(clean_ok)
    for i, step in enumerate(steps):
        bar.set_postfix_str(f"{step.attack} @ {step.eps[0]:g}")
        idx = cascade.points(step)
        done = saved.get(i, step, idx) if saved is not None else None
        if done is None:
            still, l2, run = _attack(
                step, suite[step.attack], model, x, y, idx, n_classes, batch_size, seed, device
            )
            if saved is not None:
                saved.add(step, idx, still, l2, run)
        else:
            still, l2, run = done
            budgets = ",".join(f"{e:g}" for e in step.eps)
            log.info("attack %s eps=%s: taken from an interrupted attempt", step.attack, budgets)
        for eps in step.eps:  # one C&W run serves every L2 budget: robust at ε iff it failed or ‖δ‖₂ > ε
            ok = still | (l2 > eps) if step.norm == "l2" else still
            rec = table.measured(step.attack, suite[step.attack], eps, idx, ok, step.points.value, **run)
            log.info(_LINE, rec.attack, eps, rec.accuracy, rec.n, rec.wall_time_s)
            bar.update(1)
        cascade.ran(step, table.outcome(rec))
    bar.close()
    return table


_NO_TIME = {"wall_time_s": 0.0, "cpu_time_s": 0.0}


def _inputs(x: Any, y: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y) on the CPU (batches go to the device one at a time), checked: as many labels as inputs,
    inputs in [0, 1] (normalisation belongs inside the model)."""
    x = torch.as_tensor(x, dtype=torch.float32).cpu()
    y = torch.as_tensor(y, dtype=torch.long).cpu()
    if len(x) != len(y):
        raise ValueError(f"run_suite: {len(x)} inputs but {len(y)} labels")
    if len(x) and (x.min() < 0 or x.max() > 1):
        raise ValueError("run_suite expects inputs in [0,1] (normalisation belongs inside the model)")
    return x, y


def _attack(
    step: Step,
    spec: dict,
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    idx: np.ndarray,
    n_classes: int,
    batch_size: int,
    seed: int,
    device: torch.device | str,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """One step on the points idx: (still correct, ‖δ‖₂) per point, and how it ran (repr, wall and CPU seconds)."""
    from ..attacks import build_attack, run_attack

    if len(idx) == 0:
        return np.zeros(0, bool), np.zeros(0), {"repr": "not run (no point left)", **_NO_TIME}
    # Seeded per step, whatever ran before it: a resumed evaluation draws what an uninterrupted one does.
    torch.manual_seed(seed)
    eps = step.budget
    atk = build_attack(spec, model, 0.0 if eps is None else eps, n_classes, seed)
    t0, c0 = time.perf_counter(), time.process_time()
    still, l2 = run_attack(atk, model, x[idx], y[idx], batch_size, device, eps, step.attack)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return still, l2, {"repr": repr(atk), "wall_time_s": wall, "cpu_time_s": cpu}
