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
    """np.savez_compressed's format through a temporary name, so a crash never leaves a truncated file.

    Written here rather than by np.savez_compressed, which stamps each member with the current time:
    with a fixed stamp the same arrays give the same bytes (a resumed evaluation's file is the
    uninterrupted one's)."""
    import zipfile

    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for k, v in arrays.items():
            member = zipfile.ZipInfo(f"{k}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            member.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(member, "w", force_zip64=True) as fh:  # force_zip64: as numpy (gh-10776)
                np.lib.format.write_array(fh, np.asarray(v), allow_pickle=False)


def read_result(json_path: Path) -> ModelResult:
    """robustness.json, verified, in any format version this code knows."""
    return ModelResult.from_json(read_json(json_path))
