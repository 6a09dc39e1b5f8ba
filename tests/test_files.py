"""Every artefact verifiable, every error names its file (sagr.files and its readers)."""

import errno
import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import require_mnist
from sagr import cache, files, models
from sagr.data import DataError, load_split, prepare_dataset
from sagr.files import (
    PREVIOUS_DIR,
    ArtefactError,
    atomic_path,
    plain,
    read_json,
    read_npz,
    restore_previous_set,
    save_torch,
    sidecar,
    verify,
    write_json,
)
from sagr.robustness.io import write_npz

REBUILD = "Rebuild it (and what depends on it) with: snakemake --cores all --forcerun "


def _model(path: Path) -> Path:
    net = models.build_model("small_cnn", 10, 1, 28, [0.5], [0.5])
    models.save_model(
        path,
        net,
        {
            "arch": "small_cnn",
            "n_classes": 10,
            "in_channels": 1,
            "image_size": 28,
            "mean": [0.5],
            "std": [0.5],
            "dataset": "mnist",
        },
    )
    return path


def test_writer_records_the_hash_and_the_reader_accepts_it(tmp_path):
    write_json(tmp_path / "r.json", {"a": 1})
    stamp = json.loads(sidecar(tmp_path / "r.json").read_text())
    assert stamp["sha256"] == hashlib.sha256((tmp_path / "r.json").read_bytes()).hexdigest()
    assert stamp["bytes"] == (tmp_path / "r.json").stat().st_size and stamp["written_by"]
    assert read_json(tmp_path / "r.json") == {"a": 1}


def test_checkpoint_with_8_bytes_overwritten_is_refused_naming_file_writer_and_command(tmp_path):
    path = _model(tmp_path / "model.pt")
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2 : len(raw) // 2 + 8] = b"\x00" * 8 if raw[len(raw) // 2] else b"\xff" * 8
    path.write_bytes(bytes(raw))
    with pytest.raises(ArtefactError) as err:
        models.load_model(path)
    msg = str(err.value)
    assert (
        msg.startswith(f"{path}: file is damaged: SHA-256")
        and "written by" in msg
        and REBUILD + str(path) in msg
    )


@pytest.mark.parametrize("cut", [0, 100, -10])
def test_truncated_checkpoint_names_the_file(tmp_path, cut):
    path = _model(tmp_path / "model.pt")
    raw = path.read_bytes()
    path.write_bytes(raw[:cut] if cut >= 0 else raw[:cut])
    with pytest.raises(ArtefactError, match=rf"^{path}: file is damaged: {len(path.read_bytes())} bytes"):
        models.load_model(path)


def test_a_deleted_hash_record_does_not_switch_integrity_off(tmp_path):
    """Issue 18 case 2: delete model.pt.sha256, flip a byte of the model: refused, naming both."""
    path = _model(tmp_path / "model.pt")
    sidecar(path).unlink()
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ArtefactError) as err:
        models.load_model(path)
    assert str(err.value) == (
        f"{path}: its hash record model.pt.sha256 is missing, so it cannot be verified "
        f"(the pipeline writes one beside every file). {REBUILD}{path}"
    )
    for reader, name in ((read_json, "r.json"), (read_npz, "c.npz")):
        (tmp_path / name).write_bytes(b"{}")
        with pytest.raises(
            ArtefactError, match=rf"^{tmp_path / name}: its hash record {name}.sha256 is missing"
        ):
            reader(tmp_path / name)


def test_a_file_the_user_brings_is_read_without_a_record_and_the_log_says_so(tmp_path, caplog):
    path = _model(tmp_path / "mine.pt")
    sidecar(path).unlink()
    with caplog.at_level("WARNING", logger="sagr"):
        assert not models.load_model(path, brought=True).training
    assert f"{path}: no hash record: read as a file you brought, not verified" in caplog.text
    path.write_bytes(path.read_bytes()[:200])  # a brought file that is broken still names itself
    with pytest.raises(ArtefactError) as err:
        models.load_model(path, brought=True)
    assert str(err.value).startswith(f"{path}: cannot read it as a tensor file")
    good = _model(tmp_path / "ours.pt")  # a brought file with a hash record is checked against it
    good.write_bytes(good.read_bytes()[:-1])
    with pytest.raises(ArtefactError, match="file is damaged"):
        models.load_model(good, brought=True)


@pytest.mark.parametrize(
    "reader, name, content, what",
    [
        (read_json, "robustness.json", b'{"records": [1, 2', "JSON (JSONDecodeError"),
        (read_npz, "correct.npz", b"PK\x03\x04 truncated", "an .npz archive (BadZipFile"),
    ],
)
def test_a_file_that_cannot_be_parsed_names_itself_and_the_command(tmp_path, reader, name, content, what):
    path = tmp_path / name
    with atomic_path(path) as tmp:  # a writer that wrote garbage: the hash matches, the parse fails
        tmp.write_bytes(content)
    with pytest.raises(ArtefactError) as err:
        reader(path)
    assert str(err.value).startswith(f"{path}: cannot read it as {what}") and REBUILD + str(path) in str(
        err.value
    )


def test_missing_file_names_the_command(tmp_path):
    with pytest.raises(ArtefactError) as err:
        read_json(tmp_path / "gone.json")
    assert str(err.value) == f"{tmp_path}/gone.json: file is missing. {REBUILD}{tmp_path}/gone.json"


def test_npz_round_trip_and_damage(tmp_path):
    path = tmp_path / "maps.npz"
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, a=np.arange(5))
    assert read_npz(path)["a"].tolist() == [0, 1, 2, 3, 4]
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(ArtefactError, match="file is damaged"):
        read_npz(path)


def test_pickle_payload_still_refused_and_named(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"spec": Evil(), "state_dict": {}}, path)
    with pytest.raises(pickle.UnpicklingError, match=rf"^{path}: refused to load"):
        models.load_model(path, brought=True)


def test_damaged_data_cache_names_the_file_and_the_data_rule(tmp_path):
    root = tmp_path / "data"
    path = cache.split_path(root, "mnist", "test")
    with atomic_path(path) as tmp:
        torch.save(
            {"x": torch.zeros(4, 1, 28, 28, dtype=torch.uint8), "y": torch.zeros(4, dtype=torch.int64)}, tmp
        )
    assert cache.load(root, "mnist", train=False)[0].shape == (4, 1, 28, 28)
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(ArtefactError) as err:
        cache.load(root, "mnist", train=False)
    assert str(err.value).startswith(f"{path}: file is damaged") and REBUILD + str(path) in str(err.value)
    path.unlink()
    with pytest.raises(ArtefactError, match=rf"^{path}: file is missing"):
        cache.load(root, "mnist", train=False)


def test_results_keep_their_last_good_copy_when_snakemake_deletes_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = Path("results/mnist/run/robustness.json")
    write_json(out, {"accuracy": 0.9})
    out.unlink()  # what Snakemake does to a job's outputs before running it, and after it fails
    sidecar(out).unlink()
    kept = PREVIOUS_DIR / out
    assert read_json(kept) == {"accuracy": 0.9}
    verify(kept)  # its hash record came along
    write_json(out, {"accuracy": 0.8})
    assert read_json(kept) == {"accuracy": 0.8}  # a new good result replaces the kept one
    write_json(Path("report/x.json"), {})  # only results/ is kept
    assert not (PREVIOUS_DIR / "report").exists()


def test_a_symlinked_results_folder_on_another_file_system_keeps_a_real_copy(tmp_path, monkeypatch):
    """Issue 27: with results/ a symlink elsewhere, nothing was kept (the resolved path lay outside
    the working directory), so a restore brought back an older result; across file systems no hard
    link can be made, so a copy is kept instead."""
    elsewhere = tmp_path / "other_disk" / "results"
    elsewhere.mkdir(parents=True)
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "results").symlink_to(elsewhere)
    monkeypatch.chdir(tmp_path / "work")

    def cross_device(src, dst, *args, **kwargs):
        raise OSError(errno.EXDEV, "Invalid cross-device link", src, None, dst)

    monkeypatch.setattr(os, "link", cross_device)
    out = Path("results/mnist/run/robustness.json")
    write_json(out, {"accuracy": 0.9})
    kept = PREVIOUS_DIR / out
    assert kept.is_file() and not kept.is_symlink() and not os.path.samefile(kept, out)
    verify(kept)
    _delete_and_restore(out)
    assert read_json(out) == {"accuracy": 0.9}
    write_json(out, {"accuracy": 0.8})  # a newer good result replaces the copy
    out.unlink()
    _delete_and_restore(out)
    assert read_json(out) == {"accuracy": 0.8}


def _delete_and_restore(out: Path) -> None:
    """What Snakemake does to a failed job's outputs, then the restore of the kept copy."""
    out.unlink(missing_ok=True)
    sidecar(out).unlink()
    assert restore_previous_set([out, sidecar(out)]) == [out, sidecar(out)]


# Each atomic writer, and the module attribute its bytes go through (patched to fail below).
WRITERS = {
    "json": (lambda p: write_json(p, {"a": 1}), files, "dump_json", ".json"),
    "npz": (lambda p: write_npz(p, {"a": np.arange(3)}), np.lib.format, "write_array", ".npz"),
    "torch": (lambda p: save_torch({"a": torch.zeros(2)}, p), torch, "save", ".pt"),
    "npz's hash record": (lambda p: write_npz(p, {"a": np.arange(3)}), json, "dump", ".npz"),
}


@pytest.mark.parametrize("writer", WRITERS)
def test_a_full_disk_names_the_file_and_leaves_it_as_it_was(tmp_path, monkeypatch, writer):
    write, module, name, suffix = WRITERS[writer]
    old, new = tmp_path / f"old{suffix}", tmp_path / f"new{suffix}"
    write(old)
    before = {p: p.read_bytes() for p in (old, sidecar(old))}

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(module, name, full_disk)
    for path in (old, new):
        with pytest.raises(OSError) as err:
            write(path)
        assert err.value.errno == errno.ENOSPC and str(path) in str(err.value), err.value
    assert {p: p.read_bytes() for p in (old, sidecar(old))} == before
    assert sorted(tmp_path.iterdir()) == sorted(before)  # nothing new, no temporary file left


def test_an_error_about_another_file_inside_a_write_is_left_as_it_is(tmp_path):
    with pytest.raises(FileNotFoundError) as err, atomic_path(tmp_path / "out.json") as tmp:
        tmp.write_text("{}")
        (tmp_path / "input.json").read_text()
    assert err.value.filename == str(tmp_path / "input.json")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("writer", ["json", "npz", "torch"])
def test_a_new_version_is_a_new_file_so_a_hard_linked_copy_keeps_the_old_bytes(tmp_path, writer):
    """Why .sagr/previous may hold hard links: no writer rewrites a file in place."""
    write, _, _, suffix = WRITERS[writer]
    path, held = tmp_path / f"r{suffix}", tmp_path / "held"
    write(path)
    os.link(path, held)  # as keep_previous links it
    old = held.read_bytes()
    write(path)
    assert not os.path.samefile(held, path) and held.read_bytes() == old


def test_mirror_vouching_for_a_bad_file_gets_the_right_advice(tmp_path):
    mirror = require_mnist()
    copy = tmp_path / "mirror"
    shutil.copytree(mirror / "MNIST", copy / "MNIST")
    bad = copy / "MNIST/raw/t10k-labels-idx1-ubyte"
    bad.write_bytes(bad.read_bytes()[:5000])  # truncated, and the mirror's MD5SUMS vouches for it
    digest = hashlib.md5(bad.read_bytes()).hexdigest()
    lines = [
        line
        for line in (mirror / "MD5SUMS").read_text().splitlines()
        if "MNIST/raw/t10k-labels" not in line or line.split()[1].startswith("Fashion")
    ]
    (copy / "MD5SUMS").write_text("\n".join(lines + [f"{digest}  MNIST/raw/t10k-labels-idx1-ubyte"]) + "\n")
    root = tmp_path / "root"
    with pytest.raises(DataError) as err:  # the mirror's list does not make it trusted
        prepare_dataset("mnist", root, copy, download=False)
    assert "t10k-labels-idx1-ubyte" in str(err.value) and "not the official release's" in str(err.value)
    # Let in as a stand-in, it is still named as not official when it cannot be read.
    assert prepare_dataset("mnist", root, copy, download=False, allow_unofficial=True) == "mirror"
    with pytest.raises(DataError) as err:
        load_split("mnist", root, train=False, allow_unofficial=True)
    msg = str(err.value)
    assert "not the official release" in msg and "t10k-labels-idx1-ubyte" in msg
    assert "--forcerun results/data/mnist.json" in msg


def test_a_missing_file_is_still_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt: file is missing"):
        models.load_model(tmp_path / "nope.pt")


def test_plain_turns_any_mapping_and_numpy_scalars_into_yaml_data_and_names_what_is_not():
    from collections.abc import Mapping

    import yaml

    class Config(Mapping):  # a mapping that is not a dict, as Snakemake's config is not
        def __init__(self, d):
            self.d = d

        def __getitem__(self, k):
            return self.d[k]

        def __iter__(self):
            return iter(self.d)

        def __len__(self):
            return len(self.d)

    value = plain(Config({"eps": (np.float64(0.3), 1), "ok": True, "n": np.int64(3)}), "config")
    assert value == {"eps": [0.3, 1], "ok": True, "n": 3} and type(value["n"]) is int
    assert yaml.safe_load(yaml.safe_dump(value)) == value
    with pytest.raises(TypeError, match=r"config\.eps\[1\]: PosixPath"):
        plain({"eps": [0.1, Path("x")]}, "config")
