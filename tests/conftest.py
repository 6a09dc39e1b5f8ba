"""Shared fixtures: repository paths, the data mirror, configs."""

import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def snakemake_cmd(*args: str) -> list[str]:
    """Command line of one Snakemake run of this workflow (in this interpreter), `args` appended."""
    return [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), *args]


def planned_jobs(output: str) -> dict[str, int]:
    """Rule -> count from snakemake's 'Job stats' table of a dry run ({} when nothing is to be done)."""
    if "Job stats:" not in output:
        return {}
    table = output.split("Job stats:")[1].split("total")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)}


def sagr_cli(*args: str, cwd: Path = REPO, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the `sagr` command (this checkout's source, this interpreter); output captured as text."""
    env = {**os.environ, **(env or {}), "PYTHONPATH": str(REPO / "src")}
    return subprocess.run(
        [sys.executable, "-m", "sagr.cli", *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def mirror_dir() -> Path:
    """The data mirror: $SAGR_DATA_MIRROR (when set and not empty), else ../shared/datasets beside the checkout."""
    return Path(os.environ.get("SAGR_DATA_MIRROR") or REPO.parent / "shared" / "datasets")


def data_unavailable_reason() -> str | None:
    """None if MNIST can be had (mirror present, or torchvision's download host reachable), else why not."""
    if (mirror_dir() / "MD5SUMS").is_file():
        return None
    import socket

    try:
        socket.create_connection(("ossci-datasets.s3.amazonaws.com", 443), timeout=3).close()
        return None
    except OSError:
        return f"MNIST unavailable: no data mirror at {mirror_dir()} (set SAGR_DATA_MIRROR) and no download"


def require_mnist() -> Path:
    """The data mirror, for a test that needs real MNIST: skipped with the reason where MNIST cannot be
    had (no mirror, no network), failed instead under SAGR_TESTS_REQUIRE_DATA=1 (CI, which has the
    mirror: a skip there would hide a broken data path)."""
    reason = data_unavailable_reason()
    if reason:
        if os.environ.get("SAGR_TESTS_REQUIRE_DATA") == "1":
            pytest.fail(f"{reason}; SAGR_TESTS_REQUIRE_DATA=1 forbids skipping")
        pytest.skip(reason)
    return mirror_dir()


def smoke_config_on_mnist(tmp_path_factory) -> dict:
    """The smoke config with its data root a fresh directory filled as the fetch rule fills it (real
    MNIST from the mirror: raw files and the tensor cache)."""
    require_mnist()
    from sagr import cache, data
    from sagr.config import load

    root = tmp_path_factory.mktemp("data")
    data.prepare_dataset("mnist", root, mirror_dir(), download=False)
    cache.write_cache(root, "mnist")
    config = load(REPO / "config" / "smoke.yaml")
    config["data"]["root"] = str(root)
    return config


@pytest.fixture
def smoke_config() -> dict:
    with open(REPO / "config" / "smoke.yaml") as fh:
        return yaml.safe_load(fh)


@pytest.fixture
def default_config() -> dict:
    with open(REPO / "config" / "config.yaml") as fh:
        return copy.deepcopy(yaml.safe_load(fh))


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """Tiny models run faster on one thread (and do not fight a busy machine); restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def fake_cifar_mirror(tmp_path_factory) -> Path:
    """CIFAR-10 and SVHN stand-ins in their real on-disk formats, with MD5SUMS (tests/fake_data.py)."""
    from fake_data import write_mirror

    return write_mirror(tmp_path_factory.mktemp("fake_mirror"))
