"""Cost of one training step of every method on the same model, batch and data."""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch
from torch import Tensor, nn

from . import registry
from .methods import get_objective


def variants(methods: dict[str, dict[str, Any]]) -> list[tuple[str, registry.Variant]]:
    """(method, variant) for every method: the configurations its registry entry asks to time."""
    return [(method, v) for method, hp in methods.items() for v in registry.method(method).bench_variants(hp)]


def time_step(
    model: nn.Module, x: Tensor, y: Tensor, method: str, hp: dict[str, Any], steps: int, warmup: int
) -> float:
    """Median seconds of one optimiser step (objective, backward, update) of ``method``."""
    objective = get_objective(method)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    model.train()
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        terms = objective(model, x, y, hp)
        optimizer.zero_grad(set_to_none=True)
        terms.loss.backward()
        optimizer.step()
        if x.is_cuda:
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def benchmark(
    build_model, x: Tensor, y: Tensor, methods: dict[str, dict[str, Any]], steps: int, warmup: int
) -> list[dict[str, Any]]:
    """One row per method variant: ms per step and ratio to a standard step (fresh model each).

    ``methods`` maps each method to its full training hyper-parameters (sagr.config.method_hparams).
    """
    rows = []
    for method, variant in variants({"standard": {}, **methods}):
        torch.manual_seed(0)
        model = build_model().to(x.device)
        seconds = time_step(model, x, y, method, dict(variant.hparams), steps, warmup)
        rows.append(
            {
                "method": method,
                "variant": variant.label,
                "ms_per_step": round(1000 * seconds, 3),
                "goal": variant.goal,
            }
        )
    base = next(r["ms_per_step"] for r in rows if r["method"] == "standard")
    for r in rows:
        r["ratio_to_standard"] = round(r["ms_per_step"] / base, 3)
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table for the terminal."""
    lines = [f"{'method':<10} {'variant':<22} {'ms/step':>9} {'x standard':>10} {'goal':>6}"]
    for r in rows:
        goal = "" if r["goal"] is None else (f"≤{r['goal']}" if isinstance(r["goal"], float) else r["goal"])
        ms, ratio = r["ms_per_step"], r["ratio_to_standard"]
        lines.append(f"{r['method']:<10} {r['variant']:<22} {ms:>9.2f} {ratio:>10.2f} {goal:>6}")
    return "\n".join(lines)
