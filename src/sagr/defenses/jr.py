"""JR: Jacobian regularisation, by any estimator of :mod:`sagr.estimators` (objective in
:mod:`sagr.methods`). No torch here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..registry import Method, Variant, register
from .common import COST_GOAL, ESTIMATOR, ESTIMATORS, LAM, N_PROJ


def _jr_variants(hp: Mapping[str, Any]) -> list[Variant]:
    return [Variant(e, {**hp, "estimator": e}, None if e == "exact" else COST_GOAL) for e in ESTIMATORS]


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
