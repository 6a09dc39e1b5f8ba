"""A new dataset, or a new architecture, is one registry entry: nothing else needs editing (issue 19).

The entries are added at run time, as a user's edit of sagr/registry.py would add them, and the
dataset's raw files are written in their real format (torchvision's idx files, as for MNIST) into a
mirror. Everything downstream (config schema and checks, labels, fetching, the cache, training,
evaluation) must then work from the entry alone: a module that kept a list of its own (split sizes,
augmentations, files, labels, schema enums) would not know the new name, and its step fails here.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from conftest import REPO
from sagr import registry
from sagr.config import ConfigError, attack_suite, execution, job_settings, load

N_TRAIN, N_TEST = 120, 40
STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def tiny_mlp(n_classes: int, in_channels: int, image_size: int) -> nn.Module:
    """The new architecture's factory (the registry entry names it as "test_new_dataset:tiny_mlp")."""
    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * image_size**2, n_classes))


def _write_idx(path: Path, array: np.ndarray) -> str:
    """An idx file as LeCun's MNIST release spells it (magic 0x0000080N: unsigned bytes, N
    dimensions, then the sizes as big-endian int32); returns its MD5."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">i4").tobytes()
    path.write_bytes(header + array.astype(np.uint8).tobytes())
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


@pytest.fixture
def kmnist(tmp_path, monkeypatch):
    """Kuzushiji-MNIST (torchvision.datasets.KMNIST) as a registry entry, its four raw files in a mirror."""
    rng = np.random.default_rng(0)
    mirror, arrays, md5s = tmp_path / "mirror", {}, {}
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        y = np.arange(n, dtype=np.uint8) % 10
        images, labels = STEMS[split]
        md5s[images] = _write_idx(mirror / "KMNIST" / "raw" / images, x)
        md5s[labels] = _write_idx(mirror / "KMNIST" / "raw" / labels, y)
        arrays[split] = (x, y)
    entry = registry.Dataset(
        name="kmnist",
        label="Kuzushiji-MNIST",
        rank=5,
        n_train=N_TRAIN,
        n_test=N_TEST,
        n_classes=10,
        in_channels=1,
        image_size=28,
        mean=(0.19,),
        std=(0.35,),
        dark_background=True,
        torchvision="KMNIST",
        files=registry.idx_files("KMNIST", md5s),  # these files are this test's "official release"
        augmentations=frozenset({"crop"}),  # cursive characters: a mirror image is no character
    )
    monkeypatch.setitem(registry.DATASETS, entry.name, entry)
    monkeypatch.setitem(
        registry.ARCHS, "tiny_mlp", registry.Arch("tiny_mlp", "tiny MLP", "test_new_dataset:tiny_mlp")
    )
    return entry, mirror, arrays


def _config(root: Path, **kmnist) -> dict:
    """The smoke config with the new dataset beside MNIST, trained with the new architecture."""
    config = load(REPO / "config" / "smoke.yaml")
    config = copy.deepcopy(config)
    section = copy.deepcopy(config["datasets"]["mnist"])
    section.update(arch="tiny_mlp", train_subset=100, eval_subset=16, saliency_images=8, figure_images=4)
    config["datasets"]["kmnist"] = {**section, **kmnist}
    config["data"]["root"] = str(root)
    config["checkpoint"]["dir"] = str(root / "checkpoints")
    return load(config)


def test_config_schema_checks_and_labels_know_the_new_entries(kmnist, tmp_path):
    from sagr.checks import split_sizes
    from sagr.labels import arch_label, dataset_label

    entry, _, _ = kmnist
    config = _config(tmp_path / "data")
    assert config["datasets"]["kmnist"]["arch"] == "tiny_mlp"  # the schema's enums accept both names
    assert dataset_label("kmnist") == "Kuzushiji-MNIST" and arch_label("tiny_mlp") == "tiny MLP"
    assert split_sizes(config, "kmnist") == {"train": N_TRAIN, "test": N_TEST}  # no cache yet: the entry
    # Bounds and augmentations come from the entry too.
    with pytest.raises(ConfigError, match=r"datasets\.kmnist\.train_subset: 121 .*\(120 images\)"):
        _config(tmp_path / "data", train_subset=N_TRAIN + 1)
    with pytest.raises(ConfigError, match=r"datasets\.kmnist\.eval_subset: 41 .*\(40 images\)"):
        _config(tmp_path / "data", eval_subset=N_TEST + 1)
    with pytest.raises(ConfigError, match=r"datasets\.kmnist\.augment: \['flip'\] would change"):
        _config(tmp_path / "data", augment=["crop", "flip"])
    # A name no entry has is still refused, by the schema.
    with pytest.raises(ConfigError, match="arch: 'tiny_cnn' is not one of"):
        _config(tmp_path / "data", arch="tiny_cnn")


def test_new_dataset_is_fetched_cached_trained_and_evaluated_from_its_entry(kmnist, tmp_path):
    from sagr import cache, data, jobs

    entry, mirror, arrays = kmnist
    root = tmp_path / "data"
    # Fetched from the mirror, each file checked against the entry's MD5; then present.
    assert data.prepare_dataset("kmnist", root, mirror, download=False, allow_unofficial=False) == "mirror"
    assert not data.unofficial_files("kmnist", root)
    jobs.fetch_dataset_job({"root": str(root), "mirror": str(mirror)}, "kmnist", tmp_path / "kmnist.json")
    facts = cache.facts(root, "kmnist")
    assert facts == {
        "name": "kmnist",
        "n_classes": 10,
        "in_channels": 1,
        "image_size": 28,
        "mean": [0.19],
        "std": [0.35],
        "dark_background": True,
        "n_train": N_TRAIN,
        "n_test": N_TEST,
    }
    for split, (x, y) in arrays.items():
        cx, cy = cache.load(root, "kmnist", train=split == "train")
        assert torch.equal(cx, torch.from_numpy(x).unsqueeze(1).float() / 255)
        assert torch.equal(cy, torch.from_numpy(y).long())

    # Trained with the new architecture and evaluated, through the pipeline's own jobs.
    config = _config(root)
    out = tmp_path / "run"
    jobs.train_job(
        job_settings(config, "kmnist", "train"),
        execution(config),
        "kmnist",
        "standard_seed0",
        out / "model.pt",
        out / "train.json",
    )
    result = jobs.evaluate_job(
        job_settings(config, "kmnist", "evaluate", suite=attack_suite(config, ["fgsm"])),
        execution(config),
        "kmnist",
        "standard_seed0",
        out / "model.pt",
        out / "robustness.json",
        out / "correct.npz",
    )
    assert result["n_eval"] == 16 and {r["attack"] for r in result["records"]} == {"clean", "fgsm"}


def test_a_damaged_raw_file_of_the_new_dataset_is_refused_by_its_entrys_md5(kmnist, tmp_path):
    from sagr import data

    _, mirror, _ = kmnist
    (mirror / "KMNIST" / "raw" / STEMS["test"][1]).write_bytes(b"\0\0\x08\x01\0\0\0\1\7")
    with pytest.raises(data.DataError, match="MD5 mismatch"):
        data.prepare_dataset("kmnist", tmp_path / "data", mirror, download=False, allow_unofficial=False)
