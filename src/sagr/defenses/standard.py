"""Standard training: plain cross-entropy (objective in :mod:`sagr.methods`). No torch here."""

from __future__ import annotations

from ..registry import Method, register

register(Method("standard", "Standard", "sagr.methods:standard", rank=0, summary="plain cross-entropy"))
