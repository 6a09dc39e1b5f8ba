"""Issue 27: what is measured, pinned against references the pipeline does not compute itself.

The split the evaluation points come from (torchvision's test set, read here from the raw files),
the validation images held out of training (matched against the raw training split), every
requested restart run and combined by hand, and the L2 rule against a hand-made table and
against the closed-form distance to a linear model's decision boundary.
"""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torchattacks
from torchattacks.attack import Attack

from conftest import REPO, mirror_dir, smoke_config_on_mnist
from sagr import attacks as sagr_attacks
from sagr.config import attack_suite, execution, job_settings, load
from sagr.files import read_npz
from sagr.robustness.records import INDICES, outcome_key
from sagr.robustness.runner import run_suite


def _rows(x: torch.Tensor | np.ndarray) -> list[bytes]:
    """Each image as the bytes of its uint8 pixels (the cache stores x = uint8 / 255)."""
    x = torch.as_tensor(x)
    if x.dtype != torch.uint8:
        x = (x * 255).round().to(torch.uint8)
    return [r.tobytes() for r in x.reshape(len(x), -1).numpy()]


def _index_of(reference: np.ndarray) -> dict[bytes, int]:
    """Image bytes -> its index in a reference split (the splits used here hold no duplicates)."""
    table = {row: i for i, row in enumerate(_rows(reference))}
    assert len(table) == len(reference), "the reference split holds duplicate images"
    return table


# --------------------------------------------------------------------------- MNIST, read independently


@pytest.fixture(scope="module")
def mnist(tmp_path_factory) -> dict:
    """A data root filled as the fetch rule fills it, the smoke config pointing at it, and torchvision's
    own reading of the raw MNIST files in the mirror (the reference: it never goes through sagr)."""
    from torchvision.datasets import MNIST

    config = smoke_config_on_mnist(tmp_path_factory)
    root = Path(config["data"]["root"])
    config["checkpoint"]["enabled"] = False
    train, test = MNIST(str(mirror_dir()), train=True), MNIST(str(mirror_dir()), train=False)
    return {
        "root": root,
        "config": config,
        "train_x": train.data.numpy(),
        "train_y": train.targets.numpy(),
        "test_x": test.data.numpy(),
        "test_y": test.targets.numpy(),
    }


def test_evaluation_points_are_test_images_at_their_stored_indices_never_training_images(
    mnist, tmp_path, monkeypatch
):
    from sagr import jobs, models

    config = copy.deepcopy(mnist["config"])
    config["datasets"]["mnist"].update(eval_subset=48, saliency_images=12, figure_images=12)
    settings = job_settings(config, "mnist", "evaluate", suite=attack_suite(config, ["fgsm"]))
    spec = jobs.model_spec(mnist["root"], "mnist", "small_cnn")
    torch.manual_seed(0)
    model = models.build_model(
        "small_cnn", spec["n_classes"], spec["in_channels"], spec["image_size"], spec["mean"], spec["std"]
    )
    models.save_model(tmp_path / "model.pt", model, spec)

    attacked = {}  # what the attacks really ran on (not what the job says it ran on)
    real_run_suite = run_suite

    def spy(model, x, y, *args, **kwargs):
        attacked["x"], attacked["y"] = x.clone(), y.clone()
        return real_run_suite(model, x, y, *args, **kwargs)

    monkeypatch.setattr("sagr.robustness.runner.run_suite", spy)
    out = tmp_path / "eval"
    jobs.evaluate_job(
        settings,
        execution(config),
        "mnist",
        "standard_seed0",
        tmp_path / "model.pt",
        out / "robustness.json",
        out / "correct.npz",
    )
    idx = read_npz(out / "correct.npz")[INDICES]
    assert len(idx) == 48 == len(set(idx.tolist())) and len(attacked["x"]) == 48
    assert _rows(attacked["x"]) == _rows(mnist["test_x"][idx])
    assert attacked["y"].tolist() == mnist["test_y"][idx].tolist()
    training = set(_rows(mnist["train_x"]))  # every training image, a superset of what any run uses
    assert not training & set(_rows(attacked["x"]))

    maps = tmp_path / "maps.npz"
    jobs.saliency_job(
        job_settings(config, "mnist", "saliency"),
        execution(config),
        "mnist",
        "standard_seed0",
        tmp_path / "model.pt",
        tmp_path / "saliency.json",
        maps,
    )
    shown = read_npz(maps)
    assert len(shown["indices"]) == 12
    assert _rows(shown["images"]) == _rows(mnist["test_x"][shown["indices"]])
    assert shown["labels"].tolist() == mnist["test_y"][shown["indices"]].tolist()
    assert not training & set(_rows(shown["images"]))


# --------------------------------------------------------------------------- validation held out


class _Stop(Exception):
    """Raised by the stand-in for `fit` once it has seen what it would train and validate on."""


def _trained_and_validated_on(monkeypatch, settings: dict, config: dict, dataset: str, tmp_path: Path):
    """(training x, training y, validation x, validation y) exactly as train_job hands them to `fit`."""
    from sagr import jobs

    seen = {}

    def fit(model, x, y, *args, validation=None, **kwargs):
        seen.update(x=x.clone(), y=y.clone(), val=validation)
        raise _Stop

    monkeypatch.setattr(jobs, "fit", fit)
    with pytest.raises(_Stop):
        jobs.train_job(
            settings, execution(config), dataset, "standard_seed0", tmp_path / "model.pt", tmp_path / "t.json"
        )
    assert seen["val"] is not None, "the config asks for a validation split"
    return seen["x"], seen["y"], torch.as_tensor(seen["val"].x), torch.as_tensor(seen["val"].y)


def _assert_disjoint(train_x, train_y, val_x, val_y, ref_x, ref_y, n_train: int, n_val: int) -> None:
    """Both sets are images of the reference training split with their labels; no index, no pixels shared."""
    where = _index_of(ref_x)
    train_rows, val_rows = _rows(train_x), _rows(val_x)
    assert all(r in where for r in train_rows + val_rows), "an image that is not in the training split"
    train_idx, val_idx = {where[r] for r in train_rows}, {where[r] for r in val_rows}
    assert len(train_idx) == n_train and len(val_idx) == n_val
    assert np.asarray(train_y).tolist() == ref_y[[where[r] for r in train_rows]].tolist()
    assert np.asarray(val_y).tolist() == ref_y[[where[r] for r in val_rows]].tolist()
    assert not train_idx & val_idx, f"{len(train_idx & val_idx)} validation images are also trained on"
    assert not set(train_rows) & set(val_rows)


def test_mnist_validation_images_are_never_trained_on(mnist, tmp_path, monkeypatch):
    config = copy.deepcopy(mnist["config"])
    config["datasets"]["mnist"].update(train_subset=3000, validation={"n": 1000, "seed": 0})
    config = load(config)  # fills the validation defaults
    config["checkpoint"]["enabled"] = False
    settings = job_settings(config, "mnist", "train", "standard")
    got = _trained_and_validated_on(monkeypatch, settings, config, "mnist", tmp_path)
    _assert_disjoint(*got, mnist["train_x"], mnist["train_y"], n_train=3000, n_val=1000)


def _cifar_train_split(mirror: Path) -> tuple[np.ndarray, np.ndarray]:
    """The stand-in CIFAR-10 training batches, unpickled here (files this test session generated)."""
    xs, ys = [], []
    for i in range(1, 6):
        with open(mirror / "cifar-10-batches-py" / f"data_batch_{i}", "rb") as fh:
            batch = pickle.load(fh)  # noqa: S301 - written by tests/fake_data.py in this session
        xs.append(np.asarray(batch["data"], np.uint8).reshape(-1, 3, 32, 32))
        ys.extend(batch["labels"])
    return np.concatenate(xs), np.asarray(ys)


def test_cifar_validation_images_are_never_trained_on(fake_cifar_mirror, tmp_path, monkeypatch):
    from sagr import cache, data

    monkeypatch.setenv("SAGR_ALLOW_UNOFFICIAL_DATA", "1")  # generated stand-ins, allowed for this test
    root = tmp_path / "data"
    data.prepare_dataset("cifar10", root, fake_cifar_mirror, download=False)
    cache.write_cache(root, "cifar10")
    config = load(REPO / "config" / "cifar_smoke.yaml")
    config["data"]["root"] = str(root)
    config["checkpoint"]["enabled"] = False
    dcfg = config["datasets"]["cifar10"]
    settings = job_settings(config, "cifar10", "train", "standard")
    got = _trained_and_validated_on(monkeypatch, settings, config, "cifar10", tmp_path)
    ref_x, ref_y = _cifar_train_split(fake_cifar_mirror)
    _assert_disjoint(*got, ref_x, ref_y, n_train=dcfg["train_subset"], n_val=dcfg["validation"]["n"])


# --------------------------------------------------------------------------- restarts

# A toy world where who breaks which point is decided by hand: input (x0, id, ...), class 1 iff
# x0 > 0.5. Every point sits at x0 = 0.45 with label 0; a restart that "breaks" a point moves its
# x0 by ε = 0.1 (inside the ball), one that does not returns it unchanged.
N_POINTS, EPS = 20, 0.1
BREAKS = [{1, 2, 5}, {2, 7, 11}, {13}]  # restart k breaks these point ids


class _Threshold(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(10.0))  # torchattacks takes its device from a parameter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0 = x.flatten(1)[:, 0]
        return torch.stack([torch.zeros_like(x0), self.scale * (x0 - 0.5)], dim=1)


def _toy_points(n: int = N_POINTS, d: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.full((n, 1, 1, d), 0.5)
    x[:, 0, 0, 0] = 0.45
    x[:, 0, 0, 1] = torch.arange(n) / 100  # the point's id, read back by the stand-in attacks
    return x, torch.zeros(n, dtype=torch.long)


def _ids(x: torch.Tensor) -> list[int]:
    return (x.flatten(1)[:, 1] * 100).round().long().tolist()


def _restart_class(made: list):
    class Restart(Attack):
        """Stands in for one PGD / CW-∞ restart: the k-th one built breaks BREAKS[k]."""

        def __init__(self, model, eps, alpha, steps, random_start):
            super().__init__("Restart", model)
            self.k, self.eps, self.calls = len(made), eps, 0
            made.append(self)

        def forward(self, images, labels):
            self.calls += 1
            adv = images.clone()
            for row, pid in enumerate(_ids(images)):
                if pid in BREAKS[self.k]:
                    adv[row, 0, 0, 0] += self.eps
            return adv

    return Restart


@pytest.mark.parametrize("kind", ["pgd", "cw_inf"])
@pytest.mark.parametrize("restarts", [1, 2, 3])
def test_every_restart_runs_and_a_point_any_restart_broke_counts_as_broken(monkeypatch, kind, restarts):
    made: list = []
    stub = _restart_class(made)
    monkeypatch.setattr(torchattacks, "PGD", stub)
    monkeypatch.setattr(sagr_attacks, "MarginPGD", stub)
    spec = {"kind": kind, "steps": 3, "alpha_over_eps": 0.5, "restarts": restarts, "random_start": True}
    x, y = _toy_points()
    table = run_suite(_Threshold(), x, y, {"a": {**spec, "budgets": [EPS]}}, [EPS], [], 2, 8, 0, "cpu", False)
    assert len(made) == restarts and all(r.calls >= 1 for r in made), [r.calls for r in made]
    broken = set().union(*BREAKS[:restarts])  # the union, by hand
    expected = [0 if i in broken else 1 for i in range(N_POINTS)]
    assert table.arrays[outcome_key("a", EPS)].tolist() == expected


# --------------------------------------------------------------------------- the L2 rule

L2_EPS = [0.5, 1.0]
# point id -> (the stand-in C&W's result, ‖δ‖₂ it returns); robust at ε iff C&W failed or ‖δ‖₂ > ε
CW_TABLE = {
    0: ("success", 0.9),  # broken at 1.0, robust at 0.5
    1: ("success", 1.1),  # found only beyond both budgets: robust at both
    2: ("fail", 0.0),  # failure returning the clean image
    3: ("fail", 0.7),  # failure returning a perturbed but still correct image
    4: ("success", 0.3),  # broken at both
    5: ("success", 0.49),  # just inside the smaller budget: broken at both
}
EXPECTED = {0.5: [1, 1, 1, 1, 0, 0, 0], 1.0: [0, 1, 1, 1, 0, 0, 0]}  # point 6: wrong before any attack
PAD = 7  # padding pixels that carry ‖δ‖₂ without changing the class


class _TableCW(Attack):
    """Stands in for C&W L2: per point, success (x0 crosses 0.5) or failure, with the table's ‖δ‖₂."""

    def __init__(self, model, c, kappa, steps, lr):
        super().__init__("TableCW", model)

    def forward(self, images, labels):
        adv = images.clone()
        for row, pid in enumerate(_ids(images)):
            outcome, norm = CW_TABLE.get(pid, ("fail", 0.0))
            shift = 0.1 if outcome == "success" else 0.0
            pad = max(norm**2 - shift**2, 0.0) ** 0.5 / PAD**0.5
            adv[row, 0, 0, 0] += shift
            adv[row, 0, 0, 2:] += pad
        return adv


def test_l2_rule_against_a_hand_made_table(monkeypatch):
    monkeypatch.setattr(sagr_attacks, "CWL2", _TableCW)
    x, y = _toy_points(n=7, d=2 + PAD)
    y[6] = 1  # classified 0: wrong before any attack
    suite = {"cw": {"kind": "cw_l2", "c": 1.0, "kappa": 0.0, "steps": 1, "lr": 0.01, "budgets": "l2"}}
    table = run_suite(_Threshold(), x, y, suite, [0.1], L2_EPS, 2, 4, 0, "cpu", False)
    for eps in L2_EPS:
        assert table.arrays[outcome_key("cw", eps)].tolist() == EXPECTED[eps], eps


def test_l2_robustness_of_a_linear_model_matches_the_closed_form_distance():
    """Two classes, logit difference w·x + b: the smallest L2 perturbation that flips a point has norm
    |w·x + b| / ‖w‖. Points sit on the boundary's normal through (0.5, 0.5), so the nearest boundary
    point is inside [0, 1]² and the box does not change the answer. C&W's fixed c = 0.1 with ‖w‖ = 10
    cannot move a point farther than c‖w‖/2 = 0.5, so the farthest points are C&W failures (robust)."""
    w, b = torch.tensor([8.0, 6.0]), -7.0  # ‖w‖ = 10; the boundary passes through (0.5, 0.5)
    linear = nn.Linear(2, 2)
    with torch.no_grad():
        linear.weight.copy_(torch.stack([torch.zeros(2), w]))
        linear.bias.copy_(torch.tensor([0.0, b]))
    model = nn.Sequential(nn.Flatten(), linear).eval()
    normal = w / w.norm()
    dists = [0.05, 0.1, 0.15, 0.3, 0.35, 0.55, 0.6]
    pts, labels = [], []
    for side, label in ((-1, 0), (1, 1)):
        for d in dists:
            pts.append(torch.tensor([0.5, 0.5]) + side * d * normal)
            labels.append(label)
    x, y = torch.stack(pts).view(-1, 1, 1, 2), torch.tensor(labels)
    closed_form = ((x.flatten(1) @ w + b).abs() / w.norm()).numpy()
    assert np.allclose(closed_form, dists * 2, atol=1e-5)
    with torch.no_grad():
        assert (model(x).argmax(1) == y).all()
    eps_l2 = [0.2, 0.45]
    suite = {"cw": {"kind": "cw_l2", "c": 0.1, "kappa": 0.05, "steps": 300, "lr": 0.02, "budgets": "l2"}}
    table = run_suite(model, x, y, suite, [0.1], eps_l2, 2, 64, 0, "cpu", False)
    for eps in eps_l2:
        expected = (closed_form > eps).astype(int).tolist()
        assert table.arrays[outcome_key("cw", eps)].tolist() == expected, eps
