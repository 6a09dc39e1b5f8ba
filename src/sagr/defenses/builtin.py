"""The six methods of METHOD.md; their objectives live in :mod:`sagr.methods`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..registry import HParam, Method, Variant, register

FORMS = ("decoupled", "coupled")
ESTIMATORS = ("exact", "projection")

LAM = HParam("lam", "lam", float, "regularisation strength lambda", {"minimum": 0})
BETA = HParam("beta", "beta", float, "SAGR bias beta in [0,1]", {"minimum": 0, "maximum": 1})
T = HParam("T", "T", float, "SAGR temperature", {"exclusiveMinimum": 0})
FORM = HParam("form", "", FORMS, "SAGR form")
ESTIMATOR = HParam("estimator", "", ESTIMATORS, "estimator of sum_c w_c |g_c|^2")
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


def _jr_variants(hp: Mapping[str, Any]) -> list[Variant]:
    return [Variant(hp["estimator"], dict(hp))]


def _sagr_variants(hp: Mapping[str, Any]) -> list[Variant]:
    # Goals from issue 1: the cost of SAGR's estimators relative to a standard step.
    return [
        Variant("decoupled-projection", {**hp, "form": "decoupled", "estimator": "projection"}, 1.9),
        Variant("decoupled-exact", {**hp, "form": "decoupled", "estimator": "exact"}, 4.0),
        Variant("coupled", {**hp, "form": "coupled", "estimator": "projection"}),
    ]


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
