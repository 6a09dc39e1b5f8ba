"""SAGR replication library: data, models, training objectives, attacks, saliency, report."""

from __future__ import annotations

from typing import Any

__all__ = ["load_model", "evaluate"]


def __getattr__(name: str) -> Any:
    # Lazy: the Snakefile imports sagr.config at parse time, which must not pull in torch.
    if name == "load_model":
        from .models import load_model

        return load_model
    if name == "evaluate":
        from .evaluation import evaluate

        return evaluate
    raise AttributeError(f"module 'sagr' has no attribute {name!r}")
