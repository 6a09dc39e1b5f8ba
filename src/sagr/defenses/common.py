"""What several methods share: hyper-parameters, the estimator names, the inner attack's variants.

Not a method (it registers nothing). Read at Snakefile parse time: no torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..registry import HParam, Variant

# Implemented in sagr.estimators: exact (C VJPs), projection (output-space probes, double backward),
# jvp (input-space probes, forward mode).
ESTIMATORS = ("exact", "projection", "jvp")

ESTIMATOR = HParam(
    "estimator",
    "",
    ESTIMATORS,
    "estimator of sum_c w_c |g_c|^2 (sagr.estimators): exact, projection (output-space probes) or jvp (input-space probes, forward mode)",
)

LAM = HParam("lam", "lam", float, "regularisation strength lambda", {"minimum": 0})
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


def inner_attack_variants(hp: Mapping[str, Any]) -> list[Variant]:
    """A step costs about K + 1 forward-backward passes with a K-step inner attack."""
    return [Variant(f"K={hp['steps']}", dict(hp), f"≈{int(hp['steps']) + 1}")]


def on_pgd_examples(*own: HParam) -> dict[str, Any]:
    """The :class:`~sagr.registry.Method` fields of a method trained on K-step PGD examples: its
    own hyper-parameters then K and α/ε (the run-name order), the dataset's training ε, and the
    benchmark variant of its inner attack."""
    return {
        "hparams": (*own, STEPS, ALPHA_OVER_EPS),
        "trains_on_eps": True,
        "variants": inner_attack_variants,
    }


# Issue 12's goal for a regularised step (small_cnn, CPU): at most 2× a standard step. The exact
# estimator's goal (C× the projection step) is filled in by sagr.benchmark.
COST_GOAL = 2.0
