"""Vanilla-gradient saliency maps (captum) and the sharpness metrics of METHOD.md."""

from __future__ import annotations

import numpy as np
import torch
from captum.attr import Saliency
from torch import Tensor, nn

FOREGROUND_THRESHOLD = 0.1  # pixel intensity above which MNIST-like pixels are "object"
METRICS = ("gini", "entropy", "alignment", "foreground_mass")


def input_gradients(model: nn.Module, x: Tensor, y: Tensor, batch_size: int, device: torch.device) -> Tensor:
    """Signed ∇_x z_y for every image (captum Saliency with abs=False), on the CPU."""
    model.eval()
    saliency = Saliency(model)
    out = []
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size].to(device)
        out.append(saliency.attribute(xb, target=y[i : i + batch_size].to(device), abs=False).detach().cpu())
    return torch.cat(out)


def saliency_map(grad: Tensor) -> Tensor:
    """The map |∇_x z_y| summed over colour channels (N×H×W)."""
    return grad.abs().sum(1)


def gini(maps: Tensor) -> Tensor:
    """Gini sparseness per map (Chalasani et al. 2020): higher is sharper."""
    a = maps.flatten(1).double().sort(dim=1).values
    n = a.shape[1]
    i = torch.arange(1, n + 1, dtype=a.dtype)
    return ((2 * i - n - 1) * a).sum(1) / (n * a.sum(1).clamp_min(1e-30))


def normalized_entropy(maps: Tensor) -> Tensor:
    """Entropy of the map as a distribution over pixels, divided by log n: lower is sharper."""
    s = maps.flatten(1).double()
    p = s / s.sum(1, keepdim=True).clamp_min(1e-30)
    h = -(p * torch.log(p.clamp_min(1e-30))).sum(1)
    return h / np.log(s.shape[1])


def alignment(x: Tensor, grad: Tensor) -> Tensor:
    """|⟨x, ∇_x z_y⟩| / (‖x‖ ‖∇_x z_y‖): Etmann et al.'s alignment, brightness-normalised."""
    xf, gf = x.flatten(1).double(), grad.flatten(1).double()
    return (xf * gf).sum(1).abs() / (xf.norm(dim=1) * gf.norm(dim=1)).clamp_min(1e-30)


def foreground_mass(x: Tensor, maps: Tensor) -> Tensor:
    """Share of saliency on pixels brighter than the threshold (black-background datasets)."""
    fg = (x.mean(1) > FOREGROUND_THRESHOLD).double().flatten(1)
    s = maps.flatten(1).double()
    return (fg * s).sum(1) / s.sum(1).clamp_min(1e-30)


def saliency_metrics(x: Tensor, grad: Tensor, dark_background: bool) -> dict[str, np.ndarray]:
    """Per-image metric values; foreground mass only where the background is black."""
    maps = saliency_map(grad)
    out = {
        "gini": gini(maps).numpy(),
        "entropy": normalized_entropy(maps).numpy(),
        "alignment": alignment(x, grad).numpy(),
    }
    if dark_background:
        out["foreground_mass"] = foreground_mass(x, maps).numpy()
    return out


def summarize(values: dict[str, np.ndarray]) -> dict[str, dict[str, float] | None]:
    """Mean and std over images for each metric (None where not applicable)."""
    return {
        name: (
            {"mean": float(np.mean(values[name])), "std": float(np.std(values[name]))}
            if name in values
            else None
        )
        for name in METRICS
    }
