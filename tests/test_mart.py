"""MART's objective against a direct, per-example computation of Wang et al.'s formula."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from sagr import registry
from sagr.methods import get_objective, pgd_examples
from sagr.runs import decode_run, encode_run

C = 4
HP = {"beta_mart": 6.0, "steps": 3, "alpha_over_eps": 0.5, "eps": 0.3}


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Softplus(), nn.Linear(8, C)).double()


def tiny_batch(n: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    return torch.rand(n, 1, 4, 4, generator=g, dtype=torch.float64), torch.randint(0, C, (n,), generator=g)


def _softmax(z: list[float]) -> list[float]:
    top = max(z)
    e = [math.exp(v - top) for v in z]
    return [v / sum(e) for v in e]


def reference_mart(nat: torch.Tensor, adv: torch.Tensor, y: torch.Tensor, beta: float):
    """Per example, from the logits on x and x': −log q_y − log(1.0001 − max_{k≠y} q_k + 1e-12) and
    KL(p‖q) = Σ p_k (log p_k − log(q_k + 1e-12)) weighted by 1.0000001 − p_y, as the reference code
    (github.com/YisenWang/MART, ``mart_loss``) guards them; batch means (bce, reg, bce + β·reg)."""
    bce, reg = 0.0, 0.0
    for zn, za, t in zip(nat.tolist(), adv.tolist(), y.tolist(), strict=True):
        p, q = _softmax(zn), _softmax(za)
        best_wrong = max(q[k] for k in range(len(q)) if k != t)
        bce += -math.log(q[t]) - math.log(1.0001 - best_wrong + 1e-12)
        kl = sum(pk * (math.log(pk) - math.log(qk + 1e-12)) for pk, qk in zip(p, q, strict=True))
        reg += kl * (1.0000001 - p[t])
    n = len(y)
    return bce / n, reg / n, bce / n + beta * reg / n


def direct_mart(
    model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor, y: torch.Tensor, beta: float
) -> float:
    """`reference_mart`'s loss on the model's logits for x and x'."""
    return reference_mart(model(x), model(x_adv), y, beta)[2]


def test_mart_loss_matches_the_direct_formula_on_a_tiny_batch():
    model = tiny_model()
    x, _ = tiny_batch(8)
    with torch.no_grad():
        top = model(x).argmax(1)
    y = torch.where(torch.arange(8) % 2 == 0, top, (top + 1) % C)  # half right, half wrong
    hp = {**HP, "eps": 0.02}  # a small budget: the attack seldom changes the top class
    torch.manual_seed(7)
    terms = get_objective("mart")(model, x, y, hp)
    torch.manual_seed(7)  # the same random start of the inner PGD
    x_adv = pgd_examples(model, x, y, hp)
    with torch.no_grad():
        expected = direct_mart(model, x, x_adv, y, HP["beta_mart"])
        top = model(x_adv).argmax(1)
    # Both branches of "most likely wrong class" occur: the top class is y, and it is not.
    assert (top == y).any() and (top != y).any()
    assert math.isclose(terms.loss.item(), expected, rel_tol=1e-9)
    assert terms.reg > 0 and terms.ce > 0


def test_mart_is_registered_trains_on_eps_and_round_trips():
    entry = registry.method("mart")
    assert entry.trains_on_eps and entry.label == "MART"
    name = encode_run("mart", {"beta_mart": 6.0, "steps": 10, "alpha_over_eps": 0.25}, 0)
    assert name == "mart_bm6_K10_a0.25_seed0"
    assert decode_run(name).hp == {"beta_mart": 6.0, "steps": 10, "alpha_over_eps": 0.25}


def test_mart_gradient_equals_that_of_the_direct_formula():
    """The same formula as direct_mart, written with tensors so that autograd differentiates it
    (x' fixed, as the objective detaches it): the objective's gradient w.r.t. every weight must be
    the formula's, which a check for a non-zero gradient would not see (CE alone gives one)."""
    model = tiny_model()
    x, y = tiny_batch()
    torch.manual_seed(7)
    terms = get_objective("mart")(model, x, y, HP)
    torch.manual_seed(7)  # the same random start of the inner PGD
    x_adv = pgd_examples(model, x, y, HP)
    p, q = torch.softmax(model(x), 1), torch.softmax(model(x_adv), 1)
    q_true = q.gather(1, y[:, None]).squeeze(1)
    q_wrong = q.masked_fill(F.one_hot(y, C).bool(), -1.0).max(1).values
    bce = (-q_true.log() - (1.0001 - q_wrong + 1e-12).log()).mean()
    kl = (p * (p.log() - (q + 1e-12).log())).sum(1)
    reg = (kl * (1.0000001 - p.gather(1, y[:, None]).squeeze(1))).mean()
    weights = [w for w in model.parameters() if w.dim() > 1]
    got = torch.autograd.grad(terms.loss, weights)
    want = torch.autograd.grad(bce + HP["beta_mart"] * reg, weights, retain_graph=True)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b)
    # The KL term's own gradient (through p(x) as well as p(x')) is part of it and not zero.
    kl_grad = torch.autograd.grad(HP["beta_mart"] * reg, weights)
    assert all(g.abs().sum() > 0 for g in kl_grad)
