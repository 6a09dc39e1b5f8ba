"""Shared fixtures: repository paths, the data mirror, configs."""
import copy
import os
from pathlib import Path

import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def mirror_dir() -> Path:
    """The data mirror: $SAGR_DATA_MIRROR, else ../shared/datasets beside the checkout."""
    return Path(os.environ.get("SAGR_DATA_MIRROR", REPO.parent / "shared" / "datasets"))


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
