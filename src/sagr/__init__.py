"""SAGR replication library: data, models, training objectives, attacks, saliency, report."""

from .models import load_model

__all__ = ["load_model"]
