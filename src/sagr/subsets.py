"""Fixed, seeded subsets of a split: every model of a dataset is trained and attacked on the same points."""

from __future__ import annotations

import numpy as np


def subset_indices(n_total: int, n: int | None, seed: int) -> np.ndarray:
    """A fixed seeded subset of range(n_total) (first n of a PCG64 permutation; None/0/n>=n_total = all)."""
    if n_total < 0 or (n is not None and n < 0):
        raise ValueError(f"n_total and n must be >= 0, got n_total={n_total}, n={n}")
    perm = np.random.Generator(np.random.PCG64(seed)).permutation(n_total).astype(np.int64)
    return perm if not n or n >= n_total else perm[:n]
