"""Datasets through torchvision's own classes: fetch (present / download / offline mirror), load, subset."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import torch
from torchvision import datasets as tvd

from .files import atomic_path

log = logging.getLogger(__name__)

MIRROR_ENV = "SAGR_DATA_MIRROR"
MIRROR_HINT = (
    f"Set the mirror with the config key `data.mirror` or the environment variable {MIRROR_ENV} "
    "(a directory in torchvision's layout, e.g. <mirror>/MNIST/raw/train-images-idx3-ubyte, "
    "with an md5sum-format file <mirror>/MD5SUMS)."
)


class DataError(RuntimeError):
    """A dataset file is missing or corrupted, with a message saying where we looked and how to fix it."""


@dataclass(frozen=True)
class DatasetInfo:
    """Static facts about one dataset: torchvision class, shape, normalisation constants and its raw files."""

    name: str
    tv_class: type
    n_classes: int
    in_channels: int
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    dark_background: bool
    # (path relative to the data root, canonical MD5 of that file) for every raw file torchvision reads.
    files: tuple[tuple[str, str], ...]
    # torchvision's `root` argument relative to the data root ("" = the data root itself).
    tv_subdir: str = ""


def _mnist_files(folder: str, md5s: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """List the four raw idx files of an MNIST-like dataset with their MD5s."""
    return tuple((f"{folder}/raw/{stem}", md5) for stem, md5 in md5s.items())


def _cifar_files(cls: type) -> tuple[tuple[str, str], ...]:
    """List the pickled batches and the meta file of a torchvision CIFAR class with torchvision's MD5s."""
    pairs = [(f, md5) for f, md5 in cls.train_list + cls.test_list] + [
        (cls.meta["filename"], cls.meta["md5"])
    ]
    return tuple((f"{cls.base_folder}/{f}", md5) for f, md5 in pairs)


# Canonical MD5s of the *decompressed* idx files (torchvision only lists the .gz archives' MD5s);
# they equal the entries of the shared mirror's MD5SUMS.
_MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
_FASHION_MD5 = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}

# Means/stds are the per-channel statistics of each training set (MNIST/Fashion computed on the mirror).
DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        "mnist", tvd.MNIST, 10, 1, 28, (0.1307,), (0.3081,), True, _mnist_files("MNIST", _MNIST_MD5)
    ),
    "fashion_mnist": DatasetInfo(
        "fashion_mnist",
        tvd.FashionMNIST,
        10,
        1,
        28,
        (0.2860,),
        (0.3530,),
        True,
        _mnist_files("FashionMNIST", _FASHION_MD5),
    ),
    "cifar10": DatasetInfo(
        "cifar10",
        tvd.CIFAR10,
        10,
        3,
        32,
        (0.4914, 0.4822, 0.4465),
        (0.2470, 0.2435, 0.2616),
        False,
        _cifar_files(tvd.CIFAR10),
    ),
    "cifar100": DatasetInfo(
        "cifar100",
        tvd.CIFAR100,
        100,
        3,
        32,
        (0.5071, 0.4865, 0.4409),
        (0.2673, 0.2564, 0.2762),
        False,
        _cifar_files(tvd.CIFAR100),
    ),
    "svhn": DatasetInfo(
        "svhn",
        tvd.SVHN,
        10,
        3,
        32,
        (0.4377, 0.4438, 0.4728),
        (0.1980, 0.2010, 0.1970),
        False,
        tuple((f"SVHN/{tvd.SVHN.split_list[s][1]}", tvd.SVHN.split_list[s][2]) for s in ("train", "test")),
        tv_subdir="SVHN",
    ),
}


def get_info(name: str) -> DatasetInfo:
    """Return the DatasetInfo of `name`, or raise ValueError listing the valid names."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; valid: {sorted(DATASETS)}") from None


def mirror_from_env(config_value: str | None) -> Path | None:
    """Pick the offline mirror: env SAGR_DATA_MIRROR (a per-machine override) wins, else the config value."""
    value = os.environ.get(MIRROR_ENV) or config_value or None
    return Path(value).expanduser() if value else None


def _md5(path: Path, chunk: int = 1 << 20) -> str:
    """MD5 hex digest of a file."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_md5sums(mirror: Path) -> dict[str, str]:
    """Parse <mirror>/MD5SUMS (md5sum format) into {relative path: md5}; empty if the file is absent."""
    sums: dict[str, str] = {}
    path = mirror / "MD5SUMS"
    if not path.is_file():
        return sums
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        digest, _, rel = line.partition(" ")
        rel = rel.strip().lstrip("*")  # "*" marks binary mode in md5sum output
        sums[os.path.normpath(rel)] = digest.lower()
    return sums


def _accepted(rel: str, canonical: str, mirror_sums: dict[str, str]) -> set[str]:
    """MD5s accepted for one file: the canonical one plus the mirror's MD5SUMS entry, if any."""
    listed = mirror_sums.get(os.path.normpath(rel))
    return {canonical} | ({listed} if listed else set())


def _is_valid(path: Path, accepted: set[str]) -> bool:
    """True if `path` is a regular file whose MD5 is one of `accepted`."""
    return path.is_file() and _md5(path) in accepted


def _try_download(info: DatasetInfo, root: Path, timeout: float) -> None:
    """Run torchvision's own download for every split (raises on any failure)."""
    tv_root = root / info.tv_subdir if info.tv_subdir else root
    split_kwargs = [{"split": "train"}, {"split": "test"}] if info.tv_class is tvd.SVHN else [{"train": True}]
    # torchvision's urlopen calls have no timeout: bound them so a silently dropping firewall fails fast.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        for kwargs in split_kwargs:
            info.tv_class(str(tv_root), download=True, **kwargs)
    finally:
        socket.setdefaulttimeout(previous)


def _copy_verified(src: Path, dest: Path, accepted: set[str], mirror: Path) -> str:
    """Copy src to dest through a temp file in dest's folder, check its MD5, rename into place; return the MD5."""
    with atomic_path(dest, record_hash=False) as tmp:  # the MD5 below is its check
        h = hashlib.md5(usedforsecurity=False)
        with open(tmp, "wb") as out, open(src, "rb") as inp:
            while block := inp.read(1 << 20):
                h.update(block)
                out.write(block)
        digest = h.hexdigest()
        if digest not in accepted:  # raising here leaves dest untouched and removes the copy
            raise DataError(
                f"MD5 mismatch for {src} (got {digest}, expected {' or '.join(sorted(accepted))}) "
                f"in the data mirror {mirror}: the mirror copy is corrupted. {MIRROR_HINT}"
            )
    return digest


def _copy_from_mirror(info: DatasetInfo, root: Path, mirror: Path, sums: dict[str, str]) -> None:
    """Copy every missing/invalid raw file of `info` from the mirror into root, verifying MD5s."""
    if not mirror.is_dir():
        raise DataError(f"data mirror {mirror} for {info.name} is not a directory. {MIRROR_HINT}")
    for rel, canonical in info.files:
        accepted = _accepted(rel, canonical, sums)
        dest = root / rel
        if _is_valid(dest, accepted):
            continue
        src = mirror / rel
        if not src.is_file():
            raise DataError(
                f"missing file {rel} for {info.name} in the data mirror {mirror} "
                f"(looked for {src}). {MIRROR_HINT}"
            )
        digest = _copy_verified(src, dest, accepted, mirror)
        if digest == canonical:
            log.info("%s: copied %s from the mirror (canonical MD5)", info.name, rel)
        else:
            log.warning(
                "%s: copied %s from the mirror: matches the mirror's MD5SUMS but not the canonical "
                "MD5 %s, so it is not the official file",
                info.name,
                rel,
                canonical,
            )


def prepare_dataset(
    name: str, root: Path, mirror: Path | None, *, download: bool = True, timeout: float = 20.0
) -> str:
    """Make `name`'s raw files exist and verify under root; return "present", "download" or "mirror".

    Order: valid files already in root; else torchvision's download (skipped when download=False,
    socket timeout `timeout` seconds); else copy from `mirror`, each file MD5-checked.
    """
    info = get_info(name)
    root = Path(root)
    sums = read_md5sums(Path(mirror)) if mirror is not None else {}
    accepted = {rel: _accepted(rel, md5, sums) for rel, md5 in info.files}

    def invalid() -> list[str]:
        return [rel for rel in accepted if not _is_valid(root / rel, accepted[rel])]

    bad = invalid()
    if not bad:
        return "present"
    reason = "download disabled"
    if download:
        for rel in bad:
            if (root / rel).exists():
                # torchvision's MNIST download skips files that merely exist, so a corrupt one must go.
                log.warning("%s: removing %s before downloading: it fails its MD5 check", name, root / rel)
                (root / rel).unlink()
        try:
            _try_download(info, root, timeout)
            bad = invalid()
            if not bad:
                log.info("%s: downloaded by torchvision into %s", name, root)
                return "download"
            reason = f"downloaded files fail their MD5 check: {bad}"
        except Exception as exc:  # noqa: BLE001 - torchvision raises RuntimeError, URLError, OSError, ...
            reason = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"

    if mirror is None:
        raise DataError(
            f"{name}: raw files {bad} are not in {root}, the download failed ({reason}) "
            f"and no data mirror is set. {MIRROR_HINT}"
        )
    log.warning("%s: download failed (%s); falling back to the data mirror %s", name, reason, mirror)
    _copy_from_mirror(info, root, Path(mirror), sums)
    return "mirror"


class _UnverifiedCIFAR10(tvd.CIFAR10):
    """CIFAR10 that only checks that files exist (md5=None): for small generated files in tests."""

    train_list = [[f, None] for f, _ in tvd.CIFAR10.train_list]
    test_list = [[f, None] for f, _ in tvd.CIFAR10.test_list]
    meta = {**tvd.CIFAR10.meta, "md5": None}


class _UnverifiedCIFAR100(tvd.CIFAR100):
    """CIFAR100 that only checks that files exist (md5=None): for small generated files in tests."""

    train_list = [[f, None] for f, _ in tvd.CIFAR100.train_list]
    test_list = [[f, None] for f, _ in tvd.CIFAR100.test_list]
    meta = {**tvd.CIFAR100.meta, "md5": None}


class _UnverifiedSVHN(tvd.SVHN):
    """SVHN that only checks that files exist (md5=None): for small generated files in tests."""

    split_list = {k: [url, fn, None] for k, (url, fn, _) in tvd.SVHN.split_list.items()}


_UNVERIFIED = {tvd.CIFAR10: _UnverifiedCIFAR10, tvd.CIFAR100: _UnverifiedCIFAR100, tvd.SVHN: _UnverifiedSVHN}


def _read_failure_advice(info: DatasetInfo, root: Path) -> str:
    """What to do when torchvision cannot read the raw files: depends on whether they are the official ones."""
    missing = [rel for rel, _ in info.files if not (root / rel).is_file()]
    if missing:
        return f"Raw files {missing} are missing: run the fetch_dataset rule (snakemake --cores all results/data/{info.name}.json)."
    unofficial = [rel for rel, md5 in info.files if _md5(root / rel) != md5]
    if unofficial:
        return (
            f"The raw files {unofficial} are not the official release (their MD5 differs from the canonical one; "
            "a data mirror's MD5SUMS vouched for them). Replace them in the mirror with the official files, "
            f"delete them from {root} and rerun: snakemake --cores all --forcerun results/data/{info.name}.json"
        )
    return "The raw files pass their official MD5 check, so this is a torchvision/sagr bug: please report it."


def load_split(
    name: str, root: Path, train: bool, *, verify: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load a split as (x float32 N×C×H×W in [0,1], y int64), unnormalised: normalisation is a model layer.

    verify=False skips torchvision's MD5 check of CIFAR/SVHN files (only for generated test files);
    MNIST-like files are never MD5-checked by torchvision, prepare_dataset checks them.
    """
    info = get_info(name)
    root = Path(root)
    cls = info.tv_class if verify else _UNVERIFIED.get(info.tv_class, info.tv_class)
    tv_root = str(root / info.tv_subdir if info.tv_subdir else root)
    split = {"split": "train" if train else "test"} if issubclass(cls, tvd.SVHN) else {"train": train}
    try:
        ds = cls(tv_root, download=False, **split)
    except Exception as exc:  # noqa: BLE001 - torchvision raises RuntimeError, EOFError, OSError, ValueError...
        raise DataError(
            f"{name} ({'train' if train else 'test'}) could not be read from {root}: "
            f"{type(exc).__name__}: {exc}. {_read_failure_advice(info, root)}"
        ) from exc

    if issubclass(cls, tvd.MNIST):
        x = ds.data.unsqueeze(1)  # uint8 N×H×W tensor
        y = ds.targets
    elif issubclass(cls, tvd.CIFAR10):
        x = torch.from_numpy(ds.data).permute(0, 3, 1, 2)  # numpy N×H×W×C
        y = torch.as_tensor(ds.targets)
    else:  # SVHN: torchvision already transposes to N×C×H×W and maps label 10 to 0
        x = torch.from_numpy(ds.data)
        y = torch.from_numpy(ds.labels)
    x = x.contiguous().to(torch.float32).div_(255.0)
    y = y.to(torch.int64).contiguous()
    expected = (info.in_channels, info.image_size, info.image_size)
    if tuple(x.shape[1:]) != expected or len(x) != len(y):
        raise DataError(
            f"{name}: unexpected shapes x {tuple(x.shape)}, y {tuple(y.shape)} (want N×{expected})"
        )
    return x, y
