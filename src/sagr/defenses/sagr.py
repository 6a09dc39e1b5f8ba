"""SAGR, the paper's method: saliency-aware gradient regularisation, decoupled or coupled (objective
in :mod:`sagr.methods`). No torch here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..registry import HParam, Method, Variant, register
from .common import COST_GOAL, ESTIMATOR, ESTIMATORS, LAM, N_PROJ

FORMS = ("decoupled", "coupled")

BETA = HParam("beta", "beta", float, "SAGR bias beta in [0,1]", {"minimum": 0, "maximum": 1})
T = HParam("T", "T", float, "SAGR temperature", {"exclusiveMinimum": 0})
FORM = HParam("form", "", FORMS, "SAGR form")


def _sagr_variants(hp: Mapping[str, Any]) -> list[Variant]:
    decoupled = [
        Variant(
            f"decoupled-{e}", {**hp, "form": "decoupled", "estimator": e}, None if e == "exact" else COST_GOAL
        )
        for e in ESTIMATORS
    ]
    return [*decoupled, Variant("coupled", {**hp, "form": "coupled", "estimator": "projection"})]


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
