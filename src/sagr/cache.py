"""Each split as one uint8 tensor file, written once by the data rule and read by every job.

Reading these needs only torch: the jobs skip importing torchvision (over a second per job)
and re-parsing the raw files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .files import load_torch, read_json, save_torch, write_json

SPLITS = ("train", "test")


def split_path(root: Path, dataset: str, split: str) -> Path:
    """Where the cached split lives under the data root."""
    return Path(root) / "cache" / f"{dataset}-{split}.pt"


def info_path(root: Path, dataset: str) -> Path:
    """Where the dataset's facts (classes, shape, normalisation) live under the data root."""
    return Path(root) / "cache" / f"{dataset}-info.json"


def write_cache(root: Path, dataset: str) -> list[Path]:
    """Load both splits through torchvision (sagr.data) and store them as uint8 tensors, with the
    dataset's facts from its registry entry."""
    from . import data

    info = data.get_info(dataset)
    written, sizes = [], {}
    for split in SPLITS:
        # Official files only (their MD5), unless the user allowed stand-ins: see sagr.data.
        x, y = data.load_split(dataset, Path(root), train=split == "train")
        sizes[split] = len(y)
        path = split_path(root, dataset, split)
        save_torch({"x": (x * 255).round().to(torch.uint8), "y": y}, path)
        written.append(path)
    write_json(
        info_path(root, dataset),
        {
            "name": dataset,
            "n_classes": info.n_classes,
            "in_channels": info.in_channels,
            "image_size": info.image_size,
            "mean": list(info.mean),
            "std": list(info.std),
            "dark_background": info.dark_background,
            **{f"n_{split}": n for split, n in sizes.items()},
        },
    )  # the config checks bound subsets by these
    return written + [info_path(root, dataset)]


def load(root: Path, dataset: str, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """A cached split: x float32 N×C×H×W in [0,1], y int64."""
    blob = load_torch(split_path(root, dataset, "train" if train else "test"))
    return blob["x"].float().div_(255), blob["y"]


def facts(root: Path, dataset: str) -> dict[str, Any]:
    """Classes, shape, normalisation and background of a cached dataset."""
    return read_json(info_path(root, dataset))
