"""PGD-AT (Madry et al.): cross-entropy on PGD examples (objective in :mod:`sagr.methods`). No torch here."""

from __future__ import annotations

from ..registry import Method, register
from .common import on_pgd_examples

register(
    Method(
        "pgd_at",
        "PGD-AT",
        "sagr.methods:pgd_at",
        rank=10,
        **on_pgd_examples(),
        summary="Madry et al.: cross-entropy on PGD examples",
    )
)
