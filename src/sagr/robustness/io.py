"""A model's result on disk: robustness.json and correct.npz, written and read through `sagr.files`
(atomic writes with hash records; verified reads), so no other module opens them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..files import atomic_path, read_json, write_json
from .records import ModelResult


def write_result(result: ModelResult, json_path: Path, npz_path: Path, arrays: dict[str, np.ndarray]) -> None:
    """robustness.json from ``result`` and correct.npz from ``arrays`` (`OutcomeTable.npz_arrays`)."""
    write_npz(npz_path, arrays)
    write_json(json_path, result.to_json())


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez_compressed through a temporary name, so a crash never leaves a truncated file."""
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **{k: np.asarray(v) for k, v in arrays.items()})


def read_result(json_path: Path) -> ModelResult:
    """robustness.json, verified, in any format version this code knows."""
    return ModelResult.from_json(read_json(json_path))
