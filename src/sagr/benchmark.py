"""Cost of one training step of every method on the same model, batch and data."""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from . import registry
from .defenses.common import ESTIMATORS
from .methods import get_objective


def variants(methods: dict[str, dict[str, Any]]) -> list[tuple[str, registry.Variant]]:
    """(method, variant) for every method: the configurations its registry entry asks to time."""
    return [(method, v) for method, hp in methods.items() for v in registry.method(method).bench_variants(hp)]


def _sync(x: Tensor) -> None:
    if x.is_cuda:
        torch.cuda.synchronize()


def benchmark(
    build_model,
    x: Tensor,
    y: Tensor,
    methods: dict[str, dict[str, Any]],
    steps: int,
    warmup: int,
    skip_exact: bool = False,
) -> list[dict[str, Any]]:
    """One row per method variant: median ms per step and median ratio to a standard step.

    Steps are interleaved: each round times one step of every variant in turn (each with its own
    fresh model and optimiser), so that a noisy, shared machine slows every variant alike; the
    ratio is the median over rounds of (variant step / standard step of the same round), and its
    interquartile range is reported. ``warmup`` rounds are excluded; ``skip_exact`` leaves out the
    exact estimator's variants. ``methods`` maps each method
    to its full training hyper-parameters (sagr.config.method_hparams).
    """
    entries = []
    for method, variant in variants({"standard": {}, **methods}):
        if (
            skip_exact
            and variant.hparams.get("estimator") == "exact"
            and variant.hparams.get("form") != "coupled"
        ):
            continue
        torch.manual_seed(0)
        model = build_model().to(x.device).train()
        entries.append(
            {
                "method": method,
                "variant": variant.label,
                "hp": dict(variant.hparams),
                "goal": variant.goal,
                "model": model,
                "objective": get_objective(method),
                "optimizer": torch.optim.SGD(model.parameters(), lr=1e-3),
                "times": [],
            }
        )
    for i in range(warmup + steps):
        for e in entries:
            _sync(x)
            t0 = time.perf_counter()
            terms = e["objective"](e["model"], x, y, e["hp"])
            e["optimizer"].zero_grad(set_to_none=True)
            terms.loss.backward()
            e["optimizer"].step()
            _sync(x)
            if i >= warmup:
                e["times"].append(time.perf_counter() - t0)
    base = entries[0]["times"]
    rows = []
    for e in entries:
        ratios = [t / b for t, b in zip(e["times"], base)]
        q1, _, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else (ratios[0],) * 3
        rows.append(
            {
                "method": e["method"],
                "variant": e["variant"],
                "n_steps": len(e["times"]),
                "ms_per_step": round(1000 * statistics.median(e["times"]), 3),
                "ratio_to_standard": round(statistics.median(ratios), 3),
                "ratio_iqr": [round(q1, 3), round(q3, 3)],
            }
        )
    projection = {
        r["method"]: r["ratio_to_standard"]
        for r in rows
        if r["variant"] in ("projection", "decoupled-projection")
    }
    n_classes = int(build_model().to(x.device)(x[:1]).shape[1])
    for r, e in zip(rows, entries):
        # The exact estimator is C vector-Jacobian products by nature: its goal is C× the projection step.
        exact = r["variant"].endswith("exact") and r["method"] in projection
        r["goal"] = round(n_classes * projection[r["method"]], 2) if exact else e["goal"]
    return rows


def estimator_noise(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    draws: int = 50,
    beta: float = 0.5,
    T: float = 1.0,
    generator: torch.Generator | None = None,
) -> list[dict[str, Any]]:
    """Noise of one draw (n_proj = 1) of each random estimator of SAGR's decoupled penalty.

    For every example: the standard deviation of a single draw relative to the exact value, over
    ``draws`` draws; reported as the median (and quartiles) over the batch's examples. Also the
    relative error of the mean of the draws, a check that both estimate the same quantity.
    """
    from .estimators import jacobian_penalty
    from .methods import sagr_weights

    weights = lambda z: sagr_weights(z, y, beta, T)  # noqa: E731
    model.train()
    _, exact = jacobian_penalty(model, x, weights, "exact")
    exact = exact.detach()
    out = []
    for estimator in ESTIMATORS:
        if estimator == "exact":
            continue
        samples = torch.stack(
            [jacobian_penalty(model, x, weights, estimator, 1, generator)[1].detach() for _ in range(draws)]
        )
        rel_sd = (samples.std(0) / exact).cpu()
        q1, med, q3 = (
            float(v)
            for v in torch.quantile(rel_sd.double(), torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64))
        )
        rel_bias = ((samples.mean(0) - exact) / exact).abs().cpu()
        out.append(
            {
                "estimator": estimator,
                "draws": draws,
                "n_examples": len(x),
                "rel_sd_per_draw_median": round(med, 4),
                "rel_sd_per_draw_iqr": [round(q1, 4), round(q3, 4)],
                "rel_var_per_draw_median": round(float((rel_sd**2).median()), 4),
                "mean_rel_error_of_average": round(float(rel_bias.mean()), 4),
            }
        )
    return out


def measured_on(result: Mapping[str, Any], reference: str = "") -> tuple[list[dict], list[dict]]:
    """The rows and noise rows of one benchmark result, each carrying what it was measured on.

    ``result`` has the shape bench_methods.py writes (arch, device, device_type, threads,
    batch_size, rows, noise, provenance). Plain columns added to every row: arch, device (type),
    device_name, threads, batch_size, reference (the committed file it came from; "" for this
    run's own measurement), commit and commit_dirty (the code that measured it).
    """
    prov = result.get("provenance") or {}
    where = {
        "arch": result["arch"],
        "device": result["device_type"],
        "device_name": result["device"],
        "threads": result["threads"],
        "reference": str(reference),
        "commit": prov.get("git_commit", ""),
        "commit_dirty": bool(prov.get("git_dirty", False)),
    }
    rows = [{"batch_size": result["batch_size"], **r, **where} for r in result["rows"]]
    noise = [{**r, **where} for r in result.get("noise", [])]
    return rows, noise


def format_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table for the terminal."""
    lines = [f"{'method':<10} {'variant':<22} {'ms/step':>9} {'x standard':>10} {'IQR':>13} {'goal':>7}"]
    for r in rows:
        goal = (
            ""
            if r["goal"] is None
            else (f"≤{r['goal']}" if isinstance(r["goal"], (int, float)) else r["goal"])
        )
        iqr = r.get("ratio_iqr")
        iqr = f"{iqr[0]:.2f}–{iqr[1]:.2f}" if iqr else ""
        lines.append(
            f"{r['method']:<10} {r['variant']:<22} {r['ms_per_step']:>9.2f} {r['ratio_to_standard']:>10.2f} {iqr:>13} {goal:>7}"
        )
    return "\n".join(lines)


def format_noise(noise: list[dict[str, Any]]) -> str:
    """Per-draw noise of each random estimator, for the terminal."""
    lines = [
        f"{'estimator':<12} {'draws':>6} {'examples':>9} {'sd/exact (median, IQR)':>26} {'var/exact²':>11}"
    ]
    for r in noise:
        q1, q3 = r["rel_sd_per_draw_iqr"]
        lines.append(
            f"{r['estimator']:<12} {r['draws']:>6} {r['n_examples']:>9} "
            f"{r['rel_sd_per_draw_median']:>10.3f} ({q1:.3f}–{q3:.3f}) {r['rel_var_per_draw_median']:>11.3f}"
        )
    return "\n".join(lines)
