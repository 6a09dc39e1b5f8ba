"""What made a result: config, seed, git commit, library versions, device, wall time."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

_PACKAGES = (
    "torch",
    "torchvision",
    "torchattacks",
    "pyautoattack",
    "scipy",
    "captum",
    "numpy",
    "pandas",
    "seaborn",
    "snakemake",
)


def git_commit(cwd: Path | None = None) -> tuple[str, bool]:
    """The checkout's HEAD commit and whether the tree has uncommitted changes."""
    cwd = cwd or Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=cwd,
                capture_output=True,
                text=True,
            ).stdout.strip()
        )
        return head, dirty
    except (OSError, subprocess.CalledProcessError):
        return "unknown", False


def library_versions() -> dict[str, str]:
    """Versions of Python and of the libraries a number depends on."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def device_name(device: torch.device) -> str:
    """A human-readable device description (GPU model or CPU and thread count)."""
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def gpu_info(device: torch.device) -> dict[str, Any] | None:
    """GPU model, memory, CUDA and cuDNN versions of a CUDA device (None on CPU)."""
    if device.type != "cuda":
        return None
    props = torch.cuda.get_device_properties(device)
    return {
        "name": props.name,
        "memory_gib": round(props.total_memory / 2**30, 1),
        "capability": f"{props.major}.{props.minor}",
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "driver_devices": torch.cuda.device_count(),
    }


def resolve_device(requested: str) -> torch.device:
    """`auto` picks CUDA when present; asking for CUDA without one is an error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"config asks for device {requested!r} but CUDA is not available")
    return torch.device(requested)


def provenance(
    job: str, config: dict, seed: int | None, device: torch.device, started: float, ended: float
) -> dict[str, Any]:
    """The record stored beside every result."""
    commit, dirty = git_commit()
    return {
        "job": job,
        "config": config,
        "seed": seed,
        "git_commit": commit,
        "git_dirty": dirty,
        "versions": library_versions(),
        "device": device_name(device),
        "gpu": gpu_info(device),
        "host": platform.node(),
        "started": _dt.datetime.fromtimestamp(started, _dt.UTC).isoformat(timespec="seconds"),
        "wall_time_s": round(ended - started, 3),
        # CPU seconds of the whole job process (imports included): on a shared machine, unlike wall time,
        # this is what a run's time budget can be extrapolated from.
        "cpu_time_s": round(sum(os.times()[:2]), 3),
    }
