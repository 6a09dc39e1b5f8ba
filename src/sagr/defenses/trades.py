"""TRADES (Zhang et al.): CE(x) + β·KL(p(x) ‖ p(x')) (objective in :mod:`sagr.methods`). No torch here."""

from __future__ import annotations

from ..registry import HParam, Method, register
from .common import on_pgd_examples

BETA_TRADES = HParam("beta_trades", "bt", float, "TRADES trade-off weight", {"minimum": 0})

register(
    Method(
        "trades",
        "TRADES",
        "sagr.methods:trades",
        rank=20,
        **on_pgd_examples(BETA_TRADES),
        summary="Zhang et al.: CE(x) + beta KL(p(x) || p(x'))",
    )
)
