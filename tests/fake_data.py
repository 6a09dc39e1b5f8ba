"""Small CIFAR-10 and SVHN stand-ins in the datasets' real on-disk formats, for offline tests.

The images are learnable (a fixed colour pattern per class plus noise), so a tiny network's
accuracy rises above chance and best-epoch selection has something to select. Generated into a
temporary mirror with an MD5SUMS file; never committed.

    python tests/fake_data.py <mirror dir>     # what benchmarks/gpu_check.sh and the SLURM test use
"""

from __future__ import annotations

import hashlib
import pickle
import sys
from pathlib import Path

import numpy as np

CIFAR_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]


def _images(n: int, rng: np.random.Generator, patterns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """n images H×W×C uint8 and their labels: class pattern + Gaussian noise."""
    labels = rng.integers(0, len(patterns), n)
    noise = rng.normal(0, 40, size=(n, 32, 32, 3))
    x = np.clip(patterns[labels] + noise, 0, 255).astype(np.uint8)
    return x, labels


def _patterns(rng: np.random.Generator) -> np.ndarray:
    """One smooth 32×32×3 pattern per class (upsampled 4×4 colour blocks)."""
    coarse = rng.uniform(30, 225, size=(10, 4, 4, 3))
    return coarse.repeat(8, axis=1).repeat(8, axis=2)


def write_cifar10(mirror: Path, n_train: int, n_test: int, seed: int = 0) -> None:
    """cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta} as torchvision reads them."""
    rng = np.random.default_rng(seed)
    patterns = _patterns(rng)
    folder = mirror / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    per_file = [n_train // 5 + (i < n_train % 5) for i in range(5)]
    for name, n in [*zip(CIFAR_TRAIN, per_file), ("test_batch", n_test)]:
        x, y = _images(n, rng, patterns)
        rows = x.transpose(0, 3, 1, 2).reshape(n, 3072)  # R plane, G plane, B plane
        with open(folder / name, "wb") as fh:
            pickle.dump({"data": rows, "labels": [int(v) for v in y]}, fh)
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)]}, fh)


def write_svhn(mirror: Path, n_train: int, n_test: int, seed: int = 1) -> None:
    """SVHN/{train,test}_32x32.mat (X 32×32×3×N uint8, y N×1 in 1..10 with 10 meaning digit 0)."""
    import scipy.io

    rng = np.random.default_rng(seed)
    patterns = _patterns(rng)
    folder = mirror / "SVHN"
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        x, y = _images(n, rng, patterns)
        labels = np.where(y == 0, 10, y).astype(np.uint8)[:, None]
        scipy.io.savemat(folder / f"{split}_32x32.mat", {"X": x.transpose(1, 2, 3, 0), "y": labels})


def write_mirror(mirror: Path, n_train: int = 600, n_test: int = 200) -> Path:
    """Both datasets plus an MD5SUMS that vouches for them (prepare_dataset accepts the mirror's sums)."""
    mirror = Path(mirror)
    write_cifar10(mirror, n_train, n_test)
    write_svhn(mirror, n_train, n_test)
    lines = []
    for path in sorted(p for p in mirror.rglob("*") if p.is_file() and p.name != "MD5SUMS"):
        lines.append(
            f"{hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()}  {path.relative_to(mirror)}"
        )
    (mirror / "MD5SUMS").write_text("\n".join(lines) + "\n")
    return mirror


if __name__ == "__main__":
    print(write_mirror(Path(sys.argv[1])))
