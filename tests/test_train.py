"""The shared training loop: adversarial training buys robustness that standard training lacks."""

import pytest
import torch
import torchattacks

from conftest import require_mnist
from sagr import data
from sagr.models import build_model
from sagr.subsets import subset_indices
from sagr.train import _ramped, accuracy, train_model

ADAM = {"name": "adam", "lr": 3e-3, "weight_decay": 0.0, "schedule": "constant"}


@pytest.fixture(scope="module")
def mnist(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    data.prepare_dataset("mnist", root, require_mnist(), download=False)
    x, y = data.load_split("mnist", root, train=True)
    xt, yt = data.load_split("mnist", root, train=False)
    i = subset_indices(len(x), 3000, 0)
    j = subset_indices(len(xt), 300, 1)
    return x[i], y[i], xt[j], yt[j]


def trained(method, hp, mnist, epochs=2):
    torch.manual_seed(0)
    model = build_model("small_cnn", 10, 1, 28, (0.1307,), (0.3081,))
    x, y, _, _ = mnist
    train_model(model, x, y, method, hp, epochs, 64, ADAM, 0, torch.device("cpu"), progress=False)
    return model


def pgd_accuracy(model, xt, yt, eps):
    attack = torchattacks.PGD(model, eps=eps, alpha=eps / 4, steps=10, random_start=True)
    return (model(attack(xt, yt)).argmax(1) == yt).float().mean().item()


def test_pgd_at_beats_standard_training_under_pgd(mnist):
    _, _, xt, yt = mnist
    standard = trained("standard", {}, mnist)
    robust = trained("pgd_at", {"eps": 0.2, "steps": 3, "alpha_over_eps": 0.5}, mnist)
    assert accuracy(standard, xt, yt, 300, torch.device("cpu")) > 0.9  # the loop trains at all
    # 0.15 is over four standard errors of a difference of two accuracies on 300 points.
    assert pgd_accuracy(robust, xt, yt, 0.2) > pgd_accuracy(standard, xt, yt, 0.2) + 0.15


def test_eps_ramp_grows_linearly_then_holds():
    hp = {"eps": 0.3, "steps": 5}
    assert _ramped(hp, 0, 10)["eps"] == pytest.approx(0.03)
    assert _ramped(hp, 4, 10)["eps"] == pytest.approx(0.15)
    assert _ramped(hp, 10, 10) is hp
    assert _ramped({"lam": 1.0}, 0, 10) == {"lam": 1.0}  # methods without a budget are untouched
