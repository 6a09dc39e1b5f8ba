"""Tests for sagr.data: mirror fetch with MD5 checks, loading in the real on-disk formats, seeded subsets."""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import shutil
import socket
import time
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from torchvision import datasets as tvd

from sagr.data import DataError, load_split, mirror_from_env, prepare_dataset
from sagr.registry import DATASETS
from sagr.subsets import subset_indices

REPO = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("SAGR_DATA_MIRROR") or REPO.parent / "shared" / "datasets")


def _md5(path: Path) -> str:
    """MD5 of a file."""
    return hashlib.md5(path.read_bytes()).hexdigest()


def _no_partial_files(root: Path) -> bool:
    """True if no temp (.part) file is left anywhere under root."""
    return not any(p.name.endswith(".part") for p in root.rglob("*"))


# --------------------------------------------------------------------------- real mirror (MNIST-like)


@pytest.fixture(scope="module")
def mnist_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root filled from the real mirror once for the module (download disabled: no network in tests)."""
    from conftest import require_mnist

    require_mnist()
    root = tmp_path_factory.mktemp("data")
    for name in ("mnist", "fashion_mnist"):
        assert prepare_dataset(name, root, MIRROR, download=False) == "mirror"
    return root


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
@pytest.mark.parametrize("train,n", [(True, 60000), (False, 10000)])
def test_mirror_load_shapes(mnist_root: Path, name: str, train: bool, n: int) -> None:
    x, y = load_split(name, mnist_root, train)
    assert x.shape == (n, 1, 28, 28) and x.dtype == torch.float32
    assert y.shape == (n,) and y.dtype == torch.int64
    assert 0.0 <= x.min().item() and x.max().item() <= 1.0 and x.max().item() == 1.0
    assert set(y.unique().tolist()) == set(range(10))
    # unnormalised: the mean is the dataset's own pixel mean, which its registry entry stores for the Normalize layer
    if train:
        assert abs(x.mean().item() - DATASETS[name].mean[0]) < 1e-3
        assert abs(x.std().item() - DATASETS[name].std[0]) < 1e-3


def test_mirror_files_are_copies_and_present_next_time(mnist_root: Path) -> None:
    for rel, md5 in DATASETS["mnist"].files:
        p = mnist_root / rel
        assert p.is_file() and not p.is_symlink() and _md5(p) == md5
    assert _no_partial_files(mnist_root)
    assert prepare_dataset("mnist", mnist_root, MIRROR) == "present"
    assert prepare_dataset("mnist", mnist_root, None) == "present"  # canonical MD5s are built in


@pytest.fixture()
def mnist_mirror_copy(tmp_path: Path) -> Path:
    """A private copy of the mirror's MNIST part (with MD5SUMS) that a test may damage."""
    if not (MIRROR / "MD5SUMS").is_file():
        pytest.skip(f"data mirror {MIRROR} absent")
    mirror = tmp_path / "mirror"
    shutil.copytree(MIRROR / "MNIST", mirror / "MNIST")
    shutil.copy(MIRROR / "MD5SUMS", mirror / "MD5SUMS")
    return mirror


def test_corrupted_mirror_file_raises(mnist_mirror_copy: Path, tmp_path: Path) -> None:
    bad = mnist_mirror_copy / "MNIST/raw/t10k-images-idx3-ubyte"
    raw = bytearray(bad.read_bytes())
    raw[5000] ^= 0xFF
    bad.write_bytes(bytes(raw))
    root = tmp_path / "root"
    with pytest.raises(DataError) as err:
        prepare_dataset("mnist", root, mnist_mirror_copy, download=False)
    msg = str(err.value)
    assert "t10k-images-idx3-ubyte" in msg and "MD5" in msg and str(mnist_mirror_copy) in msg
    assert "data.mirror" in msg and "SAGR_DATA_MIRROR" in msg
    assert not (root / "MNIST/raw/t10k-images-idx3-ubyte").exists()
    assert _no_partial_files(root)


def test_missing_mirror_file_raises(mnist_mirror_copy: Path, tmp_path: Path) -> None:
    (mnist_mirror_copy / "MNIST/raw/train-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError) as err:
        prepare_dataset("mnist", tmp_path / "root", mnist_mirror_copy, download=False)
    msg = str(err.value)
    assert "train-labels-idx1-ubyte" in msg and str(mnist_mirror_copy) in msg
    assert "data.mirror" in msg and "SAGR_DATA_MIRROR" in msg


def test_corrupted_root_file_is_replaced(mnist_mirror_copy: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    assert prepare_dataset("mnist", root, mnist_mirror_copy, download=False) == "mirror"
    f = root / "MNIST/raw/train-labels-idx1-ubyte"
    f.write_bytes(f.read_bytes()[:-1])  # truncated, as by an interrupted write
    assert prepare_dataset("mnist", root, mnist_mirror_copy, download=False) == "mirror"
    assert _md5(f) == dict(DATASETS["mnist"].files)["MNIST/raw/train-labels-idx1-ubyte"]


def test_download_failure_falls_back_to_mirror(
    mnist_mirror_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def offline(self: tvd.MNIST) -> None:
        raise urllib.error.URLError("offline (test)")

    monkeypatch.setattr(tvd.MNIST, "download", offline)  # never touch the network from tests
    with caplog.at_level(logging.WARNING, logger="sagr.data"):
        assert prepare_dataset("mnist", tmp_path / "root", mnist_mirror_copy) == "mirror"
    assert (
        "download failed" in caplog.text
        and "offline (test)" in caplog.text
        and str(mnist_mirror_copy) in caplog.text
    )


def test_download_failure_without_mirror_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(self: tvd.MNIST) -> None:
        raise RuntimeError("offline (test)")

    monkeypatch.setattr(tvd.MNIST, "download", offline)
    t = time.perf_counter()
    with pytest.raises(DataError, match="SAGR_DATA_MIRROR") as err:
        prepare_dataset("fashion_mnist", tmp_path, None)
    assert "offline (test)" in str(err.value)
    assert time.perf_counter() - t < 5


def test_hanging_download_times_out(
    mnist_mirror_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A server that accepts connections but never answers (a silent firewall) must not hang the fetch."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)  # the kernel completes the handshake; nobody ever reads or replies
    try:
        monkeypatch.setattr(tvd.MNIST, "mirrors", [f"http://127.0.0.1:{server.getsockname()[1]}/"])
        t = time.time()
        with caplog.at_level("WARNING", logger="sagr.data"):
            assert prepare_dataset("mnist", tmp_path / "root", mnist_mirror_copy, timeout=0.5) == "mirror"
        # the give-up is logged before the mirror copy: time the download attempt alone (copying
        # the mirror on a loaded machine takes seconds and is not what this test is about)
        gave_up = [r for r in caplog.records if "download failed" in r.getMessage()]
        assert gave_up and "timed out" in gave_up[0].getMessage()
        assert gave_up[0].created - t < 5  # a few 0.5 s timeouts, not the socket default of forever
    finally:
        server.close()
    assert socket.getdefaulttimeout() is None  # restored


def test_mirror_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SAGR_DATA_MIRROR", raising=False)
    assert mirror_from_env(None) is None and mirror_from_env("") is None
    monkeypatch.setenv("SAGR_DATA_MIRROR", str(tmp_path / "env"))
    assert mirror_from_env(None) == tmp_path / "env"
    assert mirror_from_env(str(tmp_path / "cfg")) == tmp_path / "env"  # the machine's override wins
    monkeypatch.delenv("SAGR_DATA_MIRROR")
    assert mirror_from_env(str(tmp_path / "cfg")) == tmp_path / "cfg"


def test_unknown_dataset() -> None:
    with pytest.raises(ValueError, match="imagenet"):
        load_split("imagenet", Path("."), True)


def test_dataset_info() -> None:
    assert set(DATASETS) >= {"mnist", "fashion_mnist", "cifar10", "svhn"}
    for name, info in DATASETS.items():
        assert info.name == name and len(info.mean) == len(info.std) == info.in_channels
        assert info.dark_background == (name in ("mnist", "fashion_mnist"))


# --------------------------------------------------------------------------- generated CIFAR-10 / SVHN


def _write_cifar(base: Path, cls: type, n_per_file: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Write CIFAR pickles in torchvision's layout (rows of 3072 uint8, R then G then B planes)."""
    folder = base / cls.base_folder
    folder.mkdir(parents=True)
    label_key = "labels" if cls is tvd.CIFAR10 else "fine_labels"
    n_classes = 10 if cls is tvd.CIFAR10 else 100
    written = {}
    for fname, _ in cls.train_list + cls.test_list:
        rows = rng.integers(0, 256, size=(n_per_file, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, n_classes, n_per_file)]
        with open(folder / fname, "wb") as f:
            pickle.dump({"data": rows, label_key: labels}, f)
        written[fname] = rows
    with open(folder / cls.meta["filename"], "wb") as f:
        pickle.dump({cls.meta["key"]: [f"c{i}" for i in range(n_classes)]}, f)
    return written


def test_cifar10_generated(tmp_path: Path) -> None:
    rows = _write_cifar(tmp_path, tvd.CIFAR10, 7, np.random.default_rng(0))
    x, y = load_split("cifar10", tmp_path, True, allow_unofficial=True)
    assert x.shape == (35, 3, 32, 32) and x.dtype == torch.float32 and x.is_contiguous()
    assert y.shape == (35,) and y.dtype == torch.int64 and 0 <= y.min() and y.max() <= 9
    assert 0.0 <= x.min() and x.max() <= 1.0
    r = rows["data_batch_1"][2]  # channel c, pixel (h, w) is row[c*1024 + h*32 + w]
    assert x[2, 1, 3, 5].item() == pytest.approx(r[1024 + 3 * 32 + 5] / 255)
    xt, yt = load_split("cifar10", tmp_path, False, allow_unofficial=True)
    assert xt.shape == (7, 3, 32, 32) and yt.shape == (7,)


def test_cifar10_generated_refused_unless_stand_ins_are_allowed(tmp_path: Path) -> None:
    _write_cifar(tmp_path, tvd.CIFAR10, 2, np.random.default_rng(0))
    with pytest.raises(
        DataError, match="refused before reading: The raw files .* are not the official release"
    ):
        load_split("cifar10", tmp_path, True)


class _Payload:
    """What a hostile CIFAR batch would hold: unpickling it calls os.system."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (os.system, (f"touch {self.marker}",))


def _hostile_cifar_mirror(mirror: Path, marker: Path) -> Path:
    """A CIFAR-10 mirror whose first batch runs code when unpickled, its MD5SUMS line updated to match."""
    from fake_data import write_mirror

    write_mirror(mirror, n_train=10, n_test=4)
    batch = mirror / "cifar-10-batches-py" / "data_batch_1"
    batch.write_bytes(pickle.dumps({"data": _Payload(marker), "labels": [0]}))
    lines = [
        f"{_md5(batch)}  {line.split(maxsplit=1)[1]}" if line.endswith("data_batch_1") else line
        for line in (mirror / "MD5SUMS").read_text().splitlines()
    ]
    (mirror / "MD5SUMS").write_text("\n".join(lines) + "\n")
    return mirror


def test_a_pickle_the_mirror_vouches_for_is_never_unpickled(tmp_path: Path) -> None:
    """Issue 18 case 3: a CIFAR-10 batch replaced by a pickle with a __reduce__ payload, its MD5SUMS
    line updated: the fetch copied it and torchvision unpickled it, running the payload."""
    marker = tmp_path / "payload_ran"
    mirror = _hostile_cifar_mirror(tmp_path / "mirror", marker)
    root = tmp_path / "root"
    with pytest.raises(DataError) as err:
        prepare_dataset("cifar10", root, mirror, download=False)
    msg = str(err.value)
    assert "data_batch_1" in msg and "is the mirror's MD5SUMS entry but not the official release's" in msg
    assert not marker.exists() and not (root / "cifar-10-batches-py" / "data_batch_1").exists()
    # Even with stand-ins allowed (the mirror's list then admits the file), reading builds no object.
    assert prepare_dataset("cifar10", root, mirror, download=False, allow_unofficial=True) == "mirror"
    with pytest.raises(DataError, match=r"refused to build posix\.system"):
        load_split("cifar10", root, True, allow_unofficial=True)
    assert not marker.exists()


def test_cifar100_generated(tmp_path: Path) -> None:
    _write_cifar(tmp_path, tvd.CIFAR100, 5, np.random.default_rng(1))
    x, y = load_split("cifar100", tmp_path, False, allow_unofficial=True)
    assert x.shape == (5, 3, 32, 32) and y.max() < 100


def _write_svhn(folder: Path, split: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Write an SVHN .mat (X 32×32×3×N uint8, y N×1 in 1..10, 10 meaning digit 0)."""
    folder.mkdir(parents=True, exist_ok=True)
    X = rng.integers(0, 256, size=(32, 32, 3, n), dtype=np.uint8)
    y = rng.integers(1, 11, size=(n, 1)).astype(np.uint8)
    y[0, 0] = 10
    scipy.io.savemat(folder / f"{split}_32x32.mat", {"X": X, "y": y})
    return X, y


def test_svhn_generated(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    X, labels = _write_svhn(tmp_path / "SVHN", "train", 9, rng)
    _write_svhn(tmp_path / "SVHN", "test", 4, rng)
    x, y = load_split("svhn", tmp_path, True, allow_unofficial=True)
    assert x.shape == (9, 3, 32, 32) and x.dtype == torch.float32 and x.is_contiguous()
    assert y.dtype == torch.int64 and y[0].item() == 0  # label 10 means digit 0
    assert y.tolist() == [int(v) % 10 for v in labels[:, 0]]
    assert x[4, 2, 7, 11].item() == pytest.approx(X[7, 11, 2, 4] / 255)
    assert load_split("svhn", tmp_path, False, allow_unofficial=True)[0].shape == (4, 3, 32, 32)
    with pytest.raises(DataError):
        load_split("svhn", tmp_path, True)


def test_generated_mirror_files_are_used_only_when_the_user_allows_stand_ins(tmp_path: Path) -> None:
    """The mirror's MD5SUMS never makes a file trusted; SAGR_ALLOW_UNOFFICIAL_DATA=1 admits stand-ins."""
    mirror = tmp_path / "mirror"
    _write_svhn(mirror / "SVHN", "train", 3, np.random.default_rng(3))
    _write_svhn(mirror / "SVHN", "test", 2, np.random.default_rng(4))
    lines = [f"{_md5(mirror / rel)}  {rel}" for rel, _ in DATASETS["svhn"].files]
    (mirror / "MD5SUMS").write_text("\n".join(lines) + "\n")
    root = tmp_path / "root"
    with pytest.raises(DataError, match="not the official release's"):
        prepare_dataset("svhn", root, mirror, download=False)
    assert prepare_dataset("svhn", root, mirror, download=False, allow_unofficial=True) == "mirror"
    assert load_split("svhn", root, True, allow_unofficial=True)[0].shape == (3, 3, 32, 32)
    assert prepare_dataset("svhn", root, mirror, download=False, allow_unofficial=True) == "present"
    # without the mirror's MD5SUMS, only the official torchvision MD5 counts
    with pytest.raises(DataError):
        prepare_dataset("svhn", root, None, download=False, allow_unofficial=True)


# --------------------------------------------------------------------------- subsets


def test_subset_indices() -> None:
    a = subset_indices(1000, 100, seed=0)
    assert a.dtype == np.int64 and len(a) == 100 and len(set(a.tolist())) == 100
    assert a.min() >= 0 and a.max() < 1000
    np.testing.assert_array_equal(a, subset_indices(1000, 100, seed=0))
    assert not np.array_equal(a, subset_indices(1000, 100, seed=1))
    np.testing.assert_array_equal(subset_indices(1000, 50, seed=0), a[:50])  # nested: smaller n is a prefix
    for n in (None, 0, 1000, 5000):
        full = subset_indices(1000, n, seed=0)
        assert sorted(full.tolist()) == list(range(1000))
        np.testing.assert_array_equal(full[:100], a)
    with pytest.raises(ValueError):
        subset_indices(10, -1, seed=0)


def test_subset_indices_golden() -> None:
    # Pins the PCG64 stream: if a numpy upgrade changes it, evaluation subsets would silently change.
    assert subset_indices(10, None, seed=0).tolist() == [4, 6, 2, 7, 3, 5, 9, 0, 8, 1]


def test_tensor_cache_round_trips_the_split(tmp_path: Path) -> None:
    from conftest import require_mnist
    from sagr import cache

    prepare_dataset("mnist", tmp_path, require_mnist(), download=False)
    cache.write_cache(tmp_path, "mnist")
    for train in (True, False):
        x, y = load_split("mnist", tmp_path, train=train)
        xc, yc = cache.load(tmp_path, "mnist", train=train)
        assert torch.equal(x, xc) and torch.equal(y, yc)  # uint8 storage is exact for 8-bit images
    assert cache.facts(tmp_path, "mnist")["dark_background"] is True
