"""The six methods of METHOD.md; their objectives live in :mod:`sagr.methods`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..registry import HParam, Method, Variant, register

FORMS = ("decoupled", "coupled")
# Implemented in sagr.estimators: exact (C VJPs), projection (output-space probes, double backward),
# jvp (input-space probes, forward mode).
ESTIMATORS = ("exact", "projection", "jvp")

LAM = HParam("lam", "lam", float, "regularisation strength lambda", {"minimum": 0})
BETA = HParam("beta", "beta", float, "SAGR bias beta in [0,1]", {"minimum": 0, "maximum": 1})
T = HParam("T", "T", float, "SAGR temperature", {"exclusiveMinimum": 0})
FORM = HParam("form", "", FORMS, "SAGR form")
ESTIMATOR = HParam(
    "estimator",
    "",
    ESTIMATORS,
    "estimator of sum_c w_c |g_c|^2 (sagr.estimators): exact, projection (output-space probes) or jvp (input-space probes, forward mode)",
)
N_PROJ = HParam("n_proj", "n", int, "random projections per step", {"minimum": 1})
STEPS = HParam("steps", "K", int, "inner PGD steps", {"minimum": 1})
ALPHA_OVER_EPS = HParam(
    "alpha_over_eps",
    "a",
    float,
    "inner PGD step size as a fraction of the training epsilon",
    {"exclusiveMinimum": 0},
    sweepable=False,
)
BETA_TRADES = HParam("beta_trades", "bt", float, "TRADES trade-off weight", {"minimum": 0})


def inner_attack_variants(hp: Mapping[str, Any]) -> list[Variant]:
    """A step costs about K + 1 forward-backward passes with a K-step inner attack."""
    return [Variant(f"K={hp['steps']}", dict(hp), f"≈{int(hp['steps']) + 1}")]


# Issue 12's goal for a regularised step (small_cnn, CPU): at most 2× a standard step. The exact
# estimator's goal (C× the projection step) is filled in by sagr.benchmark.
COST_GOAL = 2.0


def _jr_variants(hp: Mapping[str, Any]) -> list[Variant]:
    return [Variant(e, {**hp, "estimator": e}, None if e == "exact" else COST_GOAL) for e in ESTIMATORS]


def _sagr_variants(hp: Mapping[str, Any]) -> list[Variant]:
    decoupled = [
        Variant(
            f"decoupled-{e}", {**hp, "form": "decoupled", "estimator": e}, None if e == "exact" else COST_GOAL
        )
        for e in ESTIMATORS
    ]
    return [*decoupled, Variant("coupled", {**hp, "form": "coupled", "estimator": "projection"})]


register(Method("standard", "Standard", "sagr.methods:standard", rank=0, summary="plain cross-entropy"))
register(
    Method(
        "pgd_at",
        "PGD-AT",
        "sagr.methods:pgd_at",
        rank=10,
        hparams=(STEPS, ALPHA_OVER_EPS),
        trains_on_eps=True,
        variants=inner_attack_variants,
        summary="Madry et al.: cross-entropy on PGD examples",
    )
)
register(
    Method(
        "trades",
        "TRADES",
        "sagr.methods:trades",
        rank=20,
        hparams=(BETA_TRADES, STEPS, ALPHA_OVER_EPS),
        trains_on_eps=True,
        variants=inner_attack_variants,
        summary="Zhang et al.: CE(x) + beta KL(p(x) || p(x'))",
    )
)
register(
    Method("igr", "IGR", "sagr.methods:igr", rank=40, hparams=(LAM,), summary="input-gradient regularisation")
)
register(
    Method(
        "jr",
        "JR",
        "sagr.methods:jr",
        rank=50,
        hparams=(LAM, ESTIMATOR, N_PROJ),
        variants=_jr_variants,
        summary="Jacobian regularisation",
    )
)
register(
    Method(
        "sagr",
        "SAGR",
        "sagr.methods:sagr",
        rank=100,
        hparams=(LAM, BETA, T, FORM, ESTIMATOR, N_PROJ),
        variants=_sagr_variants,
        summary="saliency-aware gradient regularisation (the paper's method)",
    )
)
