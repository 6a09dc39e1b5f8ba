"""Training-time augmentation on whole batches, on the batch's device, from a dedicated generator.

Random crop with zero padding (torchvision ``RandomCrop(32, padding=4)`` before normalisation,
as in Madry et al. 2018, Rice et al. 2020, locuslab/fast_adversarial) and horizontal flip.
A dedicated ``torch.Generator`` keeps the global RNG stream (PGD starts, projections) unchanged:
with augmentation off nothing is drawn at all.

Importable without torch (the config check uses ``supported`` at parse time).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .registry import DATASETS

if TYPE_CHECKING:
    import torch


def supported(dataset: str) -> frozenset[str]:
    """The augmentations that keep ``dataset``'s labels: its registry entry says (none if unknown)."""
    entry = DATASETS.get(dataset)
    return entry.augmentations if entry else frozenset()


def unsupported(dataset: str, augment: Sequence[str]) -> list[str]:
    """The entries of ``augment`` that would change ``dataset``'s labels (empty = all fine)."""
    return [a for a in augment if a not in supported(dataset)]


def augment_batch(
    x: torch.Tensor, augment: Sequence[str], padding: int, gen: torch.Generator
) -> torch.Tensor:
    """Apply ``augment`` (in order: crop, then flip) to the batch x (N×C×H×W, pixel space)."""
    import torch
    import torch.nn.functional as F

    if not augment:
        return x
    n, _, h, w = x.shape
    if "crop" in augment and padding > 0:
        padded = F.pad(
            x, (padding, padding, padding, padding)
        )  # zeros: black border, as RandomCrop(padding=4)
        oy = torch.randint(0, 2 * padding + 1, (n,), generator=gen, device=gen.device).to(x.device)
        ox = torch.randint(0, 2 * padding + 1, (n,), generator=gen, device=gen.device).to(x.device)
        rows = (oy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # N×1×H×1
        cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # N×1×1×W
        batch = torch.arange(n, device=x.device)[:, None, None, None]
        chans = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
        x = padded[batch, chans, rows, cols]
    if "flip" in augment:
        flip = torch.rand(n, generator=gen, device=gen.device).to(x.device) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    return x
