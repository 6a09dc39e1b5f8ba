"""Every attack kind must lower accuracy on a model it can break: the tiny MLP of test_attacks at
a large budget. An attack that returns its input unchanged (or a copy of it) fails here, while it
passes the checks that adversarial examples stay in the ε-ball and the [0, 1] box."""

from __future__ import annotations

import copy

import pytest
import torch
import yaml

from conftest import REPO
from sagr.attacks import build_attack
from test_attacks import C, make_data, train_mlp

SMOKE_SUITE = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())["attacks"]
# The smoke suite's C&W and Square budgets (5 steps, 20 queries) are too small to break even this
# model; these are still well below the default config's.
STRONGER = {"cw_l2": {"steps": 50, "lr": 0.1}, "square": {"n_queries": 300}}
EPS_LINF, EPS_L2 = 0.3, 3.0


@pytest.fixture(scope="module")
def breakable():
    model = train_mlp(*make_data(1000, seed=1))
    x, y = make_data(100, seed=2)
    with torch.no_grad():
        ok = model(x).argmax(1) == y
    return model, x[ok], y[ok]  # every point correct before the attack


def _spec(kind: str) -> dict:
    spec = next(copy.deepcopy(s) for s in SMOKE_SUITE.values() if s["kind"] == kind)
    for key in ("role", "budgets", "subset", "cascade"):
        spec.pop(key, None)
    return {**spec, **STRONGER.get(kind, {})}


@pytest.mark.parametrize("kind", sorted({s["kind"] for s in SMOKE_SUITE.values()}))
def test_every_attack_kind_breaks_a_breakable_model(breakable, kind: str) -> None:
    model, x, y = breakable
    assert len(x) > 80  # the premise: clean accuracy is high
    torch.manual_seed(0)
    atk = build_attack(_spec(kind), model, EPS_L2 if kind == "cw_l2" else EPS_LINF, C, seed=0)
    adv = atk(x, y).detach()
    with torch.no_grad():
        acc = (model(adv).argmax(1) == y).float().mean().item()
    assert acc <= 0.5, f"{kind}: accuracy {acc:.2f} under attack (1.0 clean)"
