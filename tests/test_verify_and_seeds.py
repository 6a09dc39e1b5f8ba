"""Issue 27's smaller items: `sagr verify` finds a result damaged on disk whatever its date says;
seeds numpy cannot take stop `sagr check-config`; `device: cuda` is checked against this machine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import fake_results as fr
from conftest import REPO, sagr_cli
from sagr.files import PREVIOUS_DIR, save_torch, verify_tree


def _model(path: Path) -> Path:
    from sagr.models import build_model

    spec = dict(arch="small_cnn", n_classes=10, in_channels=1, image_size=28, mean=[0.5], std=[0.5])
    save_torch({"spec": spec, "state_dict": build_model(**spec).state_dict()}, path)
    return path


def _flip_a_byte_keeping_the_date(path: Path, at: int) -> None:
    stat = path.stat()
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_sagr_verify_finds_a_flipped_byte_in_a_model_whose_date_was_kept(tmp_path):
    os.chdir(tmp_path)  # .sagr/previous is relative to the working directory, as in a run
    try:
        manifest = fr.write_fake_results(Path("results"), sweep=False)
        run = Path("results") / manifest[0]["dataset"] / manifest[0]["run"]
        model = _model(run / "model.pt")
        assert (PREVIOUS_DIR / model).is_file()  # the writer kept a copy: verify checks it too
        proc = sagr_cli("verify", cwd=tmp_path)
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr
        checked, _ = verify_tree(Path("results"))
        assert model in checked and PREVIOUS_DIR / model in checked

        # a copy, not the hard-linked kept one, is damaged: only the result itself is bad
        data = model.read_bytes()
        model.unlink()
        model.write_bytes(data)
        _flip_a_byte_keeping_the_date(model, at=model.stat().st_size // 2)
        proc = sagr_cli("verify", cwd=tmp_path)
    finally:
        os.chdir(REPO)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"sagr verify: {model}: file is damaged: SHA-256")
    assert f"--forcerun {model}" in lines[0]
    assert "1 damaged or missing" in proc.stdout


def test_seeds_numpy_cannot_take_stop_check_config(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("seeds: [4294967296]\n")
    proc = sagr_cli("check-config", str(REPO / "config" / "smoke.yaml"), str(big))
    assert proc.returncode == 2
    assert "seeds[0]: 4294967296 is greater than the maximum of 4294967295" in proc.stderr
    largest = tmp_path / "largest.yaml"
    largest.write_text("seeds: [4294967295]\n")  # the largest numpy takes
    assert sagr_cli("check-config", str(REPO / "config" / "smoke.yaml"), str(largest)).returncode == 0


@pytest.mark.parametrize("key", ["eval_seed", "validation"])
def test_dataset_seeds_are_bounded_too(tmp_path, key):
    value = "{n: 10, seed: 4294967296}" if key == "validation" else "4294967296"
    path = tmp_path / "c.yaml"
    path.write_text(f"datasets:\n  mnist:\n    {key}: {value}\n")
    proc = sagr_cli("check-config", str(REPO / "config" / "smoke.yaml"), str(path))
    assert proc.returncode == 2 and "4294967296 is greater than the maximum of 4294967295" in proc.stderr


def test_check_config_says_whether_this_machine_has_the_gpu_device_cuda_needs(tmp_path):
    cuda = tmp_path / "cuda.yaml"
    cuda.write_text("device: cuda\n")
    proc = sagr_cli("check-config", str(REPO / "config" / "smoke.yaml"), str(cuda))
    assert proc.returncode == 0  # the jobs may run on a cluster's GPU nodes
    has_gpu = any(Path("/dev").glob("nvidia[0-9]*")) or Path("/dev/kfd").exists()
    if has_gpu:
        assert "this machine has the GPU it names" in proc.stdout
    else:
        assert "warning (the jobs need a GPU where they run)" in proc.stderr and "has no GPU" in proc.stderr
