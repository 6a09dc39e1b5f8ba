"""IGR: input-gradient regularisation (objective in :mod:`sagr.methods`). No torch here."""

from __future__ import annotations

from ..registry import Method, register
from .common import LAM

register(
    Method("igr", "IGR", "sagr.methods:igr", rank=40, hparams=(LAM,), summary="input-gradient regularisation")
)
