"""Datasets through torchvision's own classes: fetch (present / download / offline mirror), load, subset.

Trust: a raw file is used only if its MD5 is the one the publisher (torchvision's dataset classes)
lists. A mirror's own MD5SUMS only tells a corrupt copy from a file that was never the official
one; it never makes a file trusted. Stand-in files (generated test data, in the real formats) are
used only when the user asks for them (``SAGR_ALLOW_UNOFFICIAL_DATA=1``), and CIFAR batches, which
are pickles, are always read by an unpickler that can build nothing but numpy arrays, lists and
dicts: no file, official or not, can run code here.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import socket
from pathlib import Path

import torch
from torchvision import datasets as tvd

from . import registry
from .files import atomic_path
from .registry import Dataset

log = logging.getLogger(__name__)

MIRROR_ENV = "SAGR_DATA_MIRROR"
UNOFFICIAL_ENV = "SAGR_ALLOW_UNOFFICIAL_DATA"
MIRROR_HINT = (
    f"Set the mirror with the config key `data.mirror` or the environment variable {MIRROR_ENV} "
    "(a directory in torchvision's layout, e.g. <mirror>/MNIST/raw/train-images-idx3-ubyte, "
    "with an md5sum-format file <mirror>/MD5SUMS)."
)


class DataError(RuntimeError):
    """A dataset file is missing or corrupted, with a message saying where we looked and how to fix it."""


def unofficial_allowed() -> bool:
    """Whether the user asked for stand-in raw files (generated test data): ``SAGR_ALLOW_UNOFFICIAL_DATA=1``."""
    return os.environ.get(UNOFFICIAL_ENV, "").strip().lower() in ("1", "true", "yes")


def get_info(name: str) -> Dataset:
    """The registry entry of ``name`` (its raw files, shape, torchvision class): ValueError listing
    the valid names otherwise. Every fact about a dataset is in sagr.registry, none here."""
    return registry.dataset(name)


def _tv_class(info: Dataset) -> type:
    """The torchvision class that downloads and reads ``info``'s raw files."""
    return getattr(tvd, info.torchvision)


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


def _accepted(rel: str, canonical: str, mirror_sums: dict[str, str], allow_unofficial: bool) -> set[str]:
    """MD5s accepted for one file: the official one; the mirror's MD5SUMS entry only when the user
    allows stand-in files (it then tells a corrupt copy from the stand-in the mirror meant)."""
    listed = mirror_sums.get(os.path.normpath(rel))
    return {canonical} | ({listed} if listed and allow_unofficial else set())


def _is_valid(path: Path, accepted: set[str]) -> bool:
    """True if `path` is a regular file whose MD5 is one of `accepted`."""
    return path.is_file() and _md5(path) in accepted


def unofficial_files(name: str, root: Path) -> list[str]:
    """The raw files of `name` under root that are missing or not the official release (MD5)."""
    return [rel for rel, md5 in get_info(name).files if not _is_valid(Path(root) / rel, {md5})]


def _try_download(info: Dataset, root: Path, timeout: float) -> None:
    """Run torchvision's own download for every split (raises on any failure)."""
    tv_root = root / info.tv_subdir if info.tv_subdir else root
    tv_class = _tv_class(info)
    split_kwargs = [{"split": "train"}, {"split": "test"}] if tv_class is tvd.SVHN else [{"train": True}]
    # torchvision's urlopen calls have no timeout: bound them so a silently dropping firewall fails fast.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        for kwargs in split_kwargs:
            tv_class(str(tv_root), download=True, **kwargs)
    finally:
        socket.setdefaulttimeout(previous)


def _copy_verified(src: Path, dest: Path, canonical: str, accepted: set[str], mirror: Path) -> str:
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
                f"{src} in the data mirror {mirror}: {_not_official(digest, canonical, src, mirror)}"
            )
    return digest


def _not_official(digest: str, canonical: str, src: Path, mirror: Path) -> str:
    """Why a mirror file is refused: a corrupt copy, or a file the mirror vouches for that was never official."""
    listed = read_md5sums(mirror).get(os.path.normpath(src.relative_to(mirror)))
    if listed == digest:
        return (
            f"MD5 {digest} is the mirror's MD5SUMS entry but not the official release's ({canonical}): "
            "the mirror holds another file, and only the publisher's checksum makes a raw file trusted "
            "(CIFAR batches are pickles). Put the official file in the mirror; for generated stand-in "
            f"data (tests) set {UNOFFICIAL_ENV}=1. {MIRROR_HINT}"
        )
    return (
        f"MD5 mismatch (got {digest}, expected the official {canonical}): the mirror copy is "
        f"corrupted. {MIRROR_HINT}"
    )


def _copy_from_mirror(
    info: Dataset, root: Path, mirror: Path, sums: dict[str, str], allow_unofficial: bool
) -> None:
    """Copy every missing/invalid raw file of `info` from the mirror into root, verifying MD5s."""
    if not mirror.is_dir():
        raise DataError(f"data mirror {mirror} for {info.name} is not a directory. {MIRROR_HINT}")
    for rel, canonical in info.files:
        accepted = _accepted(rel, canonical, sums, allow_unofficial)
        dest = root / rel
        if _is_valid(dest, accepted):
            continue
        src = mirror / rel
        if not src.is_file():
            raise DataError(
                f"missing file {rel} for {info.name} in the data mirror {mirror} "
                f"(looked for {src}). {MIRROR_HINT}"
            )
        digest = _copy_verified(src, dest, canonical, accepted, mirror)
        if digest == canonical:
            log.info("%s: copied %s from the mirror (official MD5)", info.name, rel)
        else:
            log.warning(
                "%s: copied %s from the mirror: a stand-in, not the official file (MD5 %s, official %s); "
                "used because %s is set",
                info.name,
                rel,
                digest,
                canonical,
                UNOFFICIAL_ENV,
            )


def prepare_dataset(
    name: str,
    root: Path,
    mirror: Path | None,
    *,
    download: bool = True,
    timeout: float = 20.0,
    allow_unofficial: bool | None = None,
) -> str:
    """Make `name`'s raw files exist and verify under root; return "present", "download" or "mirror".

    Order: valid files already in root; else torchvision's download (skipped when download=False,
    socket timeout `timeout` seconds); else copy from `mirror`, each file MD5-checked against the
    official MD5. ``allow_unofficial`` (default: ``unofficial_allowed()``) also accepts the files the
    mirror's MD5SUMS lists: generated stand-ins for tests, never for results.
    """
    info = get_info(name)
    root = Path(root)
    allow = unofficial_allowed() if allow_unofficial is None else allow_unofficial
    sums = read_md5sums(Path(mirror)) if mirror is not None else {}
    accepted = {rel: _accepted(rel, md5, sums, allow) for rel, md5 in info.files}

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
    _copy_from_mirror(info, root, Path(mirror), sums, allow)
    return "mirror"


class _UnverifiedSVHN(tvd.SVHN):
    """SVHN without torchvision's MD5 check (load_split checks the files itself first)."""

    split_list = {k: [url, fn, None] for k, (url, fn, _) in tvd.SVHN.split_list.items()}


class _ArraysOnly(pickle.Unpickler):
    """An unpickler that builds numpy arrays, dicts, lists, strings and numbers and nothing else.

    A CIFAR batch is a pickle: read with ``pickle.load`` (as torchvision does), a file that names
    another callable runs it. This one refuses every global but the three an array needs.
    """

    def find_class(self, module: str, name: str):  # noqa: ANN201 - pickle's signature
        import numpy as np

        allowed = {
            # numpy < 2 and the Python 2 pickles of the official release spell it numpy.core
            ("numpy.core.multiarray", "_reconstruct"): np.zeros(0).__reduce__()[0],
            ("numpy._core.multiarray", "_reconstruct"): np.zeros(0).__reduce__()[0],
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
        }
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(
                f"refused to build {module}.{name}: a CIFAR batch holds only arrays, lists and dicts"
            )
        return allowed[(module, name)]


def _read_cifar(info: Dataset, root: Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The batches of a CIFAR split (uint8 N×3×32×32, labels), through ``_ArraysOnly``."""
    import numpy as np

    cls = _tv_class(info)
    data, labels = [], []
    for fname, _ in cls.train_list if train else cls.test_list:
        with open(root / cls.base_folder / fname, "rb") as fh:
            entry = _ArraysOnly(fh, encoding="latin1").load()  # the release was pickled by Python 2
        data.append(np.asarray(entry["data"], dtype=np.uint8))
        labels.extend(entry["labels"] if "labels" in entry else entry["fine_labels"])
    x = np.vstack(data).reshape(-1, 3, 32, 32)  # each row: R plane, G plane, B plane
    return torch.from_numpy(x), torch.as_tensor(labels)


def _read(info: Dataset, root: Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """A split's raw files as (uint8 N×C×H×W, labels): idx files and .mat through torchvision, CIFAR ours."""
    tv_class = _tv_class(info)
    if issubclass(tv_class, tvd.CIFAR10):  # CIFAR100 subclasses it
        return _read_cifar(info, root, train)
    tv_root = str(root / info.tv_subdir if info.tv_subdir else root)
    if tv_class is tvd.SVHN:  # torchvision transposes to N×C×H×W and maps label 10 to 0
        ds = _UnverifiedSVHN(tv_root, split="train" if train else "test", download=False)
        return torch.from_numpy(ds.data), torch.from_numpy(ds.labels)
    ds = tv_class(tv_root, train=train, download=False)  # MNIST-like idx files: no pickle
    return ds.data.unsqueeze(1), ds.targets


def _read_failure_advice(info: Dataset, root: Path) -> str:
    """What to do when the raw files cannot be used: depends on whether they are the official ones."""
    from .files import rebuild_command, snakemake_command

    marker = f"results/data/{info.name}.json"
    missing = [rel for rel, _ in info.files if not (root / rel).is_file()]
    if missing:
        return f"Raw files {missing} are missing: run the fetch_dataset rule ({snakemake_command(marker)})."
    unofficial = [rel for rel, md5 in info.files if _md5(root / rel) != md5]
    if unofficial:
        return (
            f"The raw files {unofficial} are not the official release (their MD5 is not the publisher's). "
            "Replace them in the mirror with the official files, "
            f"delete them from {root} and rerun: {rebuild_command(marker)}"
            f" (generated stand-ins for tests are read only with {UNOFFICIAL_ENV}=1)"
        )
    return "The raw files pass their official MD5 check, so this is a torchvision/sagr bug: please report it."


def load_split(
    name: str, root: Path, train: bool, *, allow_unofficial: bool | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load a split as (x float32 N×C×H×W in [0,1], y int64), unnormalised: normalisation is a model layer.

    Every raw file must have its official MD5 before anything is read, unless ``allow_unofficial``
    (default: ``unofficial_allowed()``) admits stand-ins; CIFAR's pickles are read by ``_ArraysOnly``
    either way.
    """
    info = get_info(name)
    root = Path(root)
    allow = unofficial_allowed() if allow_unofficial is None else allow_unofficial
    which = "train" if train else "test"
    if not allow and unofficial_files(name, root):
        raise DataError(
            f"{name} ({which}) in {root} refused before reading: {_read_failure_advice(info, root)}"
        )
    try:
        x, y = _read(info, root, train)
    except Exception as exc:  # noqa: BLE001 - torchvision raises RuntimeError, EOFError, OSError, ValueError...
        raise DataError(
            f"{name} ({which}) could not be read from {root}: "
            f"{type(exc).__name__}: {exc}. {_read_failure_advice(info, root)}"
        ) from exc
    x = x.contiguous().to(torch.float32).div_(255.0)
    y = y.to(torch.int64).contiguous()
    expected = (info.in_channels, info.image_size, info.image_size)
    if tuple(x.shape[1:]) != expected or len(x) != len(y):
        raise DataError(
            f"{name}: unexpected shapes x {tuple(x.shape)}, y {tuple(y.shape)} (want N×{expected})"
        )
    return x, y
