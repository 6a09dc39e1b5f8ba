"""Result-equality guard: the smoke config's training runs reproduce, bit for bit, the numbers
recorded from main before the method-registry redesign (tests/golden/smoke_training.json).

Refactors of the method registry, the run codec, config loading and the jobs' data flow must not
change what a run trains to. Regenerate the golden file only for an intended change of results:

    PYTHONPATH=src python tests/test_golden_training.py --record
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "golden" / "smoke_training.json"

# Every run of the smoke config (6 methods + the ablation points), plus both estimators of JR and
# SAGR, so that a change of the exact estimator's numbers is caught too.
EXTRA_RUNS = [
    "jr_lam1_exact_n1_seed0",
    "sagr_lam1_beta0.5_T1_decoupled_exact_n1_seed0",
    "pgd_at_K2_a1_seed1",
]


def weights_sha256(state_dict: dict[str, torch.Tensor]) -> str:
    """One hash over every tensor (name, dtype, shape, bytes) of a state dict, in key order."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def fingerprint(record: dict, model_path: Path) -> dict:
    """What must not change: the weights, every logged loss number, the test accuracy."""
    state = torch.load(model_path, map_location="cpu", weights_only=True)["state_dict"]
    return {
        "weights_sha256": weights_sha256(state),
        "history": [{k: v for k, v in epoch.items() if k != "time_s"} for epoch in record["history"]],
        "test_accuracy": record["test_accuracy"],
        "n_train": record["n_train"],
    }


def smoke_runs(config: dict) -> list[str]:
    from sagr.runs import manifest

    return [e.run.name for e in manifest(config)] + EXTRA_RUNS


def load_smoke(root: Path) -> dict:
    from sagr.config import load

    config = load(REPO / "config" / "smoke.yaml")
    config = copy.deepcopy(config)
    config["data"]["root"] = str(root)
    return config


def prepared_root(root: Path, mirror: Path) -> Path:
    from sagr import cache, data

    data.prepare_dataset("mnist", root, mirror, download=False)
    cache.write_cache(root, "mnist")
    return root


def train_fingerprint(config: dict, run_name: str, workdir: Path) -> dict:
    """Train one smoke run through the train job, given what the train_model rule passes it."""
    from sagr import jobs
    from sagr.config import execution, job_settings

    out = workdir / run_name
    settings = job_settings(config, "mnist", "train")
    record = jobs.train_job(
        settings, execution(config), "mnist", run_name, out / "model.pt", out / "train.json"
    )
    return fingerprint(record, out / "model.pt")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    from conftest import mirror_dir

    root = prepared_root(tmp_path_factory.mktemp("data"), mirror_dir())
    return load_smoke(root), tmp_path_factory.mktemp("runs")


def _golden() -> dict:
    return json.loads(GOLDEN.read_text())


@pytest.mark.parametrize("run_name", sorted(_golden()["runs"]))
def test_training_reproduces_the_golden_numbers(smoke, run_name):
    golden = _golden()
    if golden["torch"] != torch.__version__:
        pytest.skip(f"golden values recorded with torch {golden['torch']}, running {torch.__version__}")
    config, workdir = smoke
    assert train_fingerprint(config, run_name, workdir) == golden["runs"][run_name]


def test_golden_covers_every_smoke_run_of_the_guarded_methods(smoke):
    # Methods added after the golden values were recorded (MART) are not guarded here.
    from sagr.runs import decode_run

    config, _ = smoke
    golden = set(_golden()["runs"])
    guarded = {decode_run(name).method for name in golden}
    assert guarded == {"standard", "pgd_at", "trades", "igr", "jr", "sagr"}
    assert {name for name in smoke_runs(config) if decode_run(name).method in guarded} <= golden


if __name__ == "__main__" and "--record" in sys.argv:
    import os
    import tempfile

    sys.path.insert(0, str(REPO / "tests"))
    from conftest import mirror_dir

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        config = load_smoke(prepared_root(tmp / "data", mirror_dir()))
        runs = {name: train_fingerprint(config, name, tmp / "runs") for name in smoke_runs(config)}
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps({"torch": torch.__version__, "runs": runs}, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(runs)} runs to {GOLDEN} (OMP threads {os.environ.get('OMP_NUM_THREADS')})")
