"""Each training objective against its formula in METHOD.md, computed directly on a tiny batch of
a linear model z = W·x + b, whose input Jacobian is W for every example:

- JR:     CE + (λ/2)·‖W‖²_F
- IGR:    CE + λ·mean_i ‖Wᵀ(p_i − e_{y_i})‖²
- SAGR:   CE + (λ/2)·mean_i Σ_c ω_ic ‖W_c‖² (decoupled) or ‖Wᵀ(ω_i ⊙ (p_i − e_{y_i}))‖² (coupled),
          ω_y = 1 − β, ω_c = 1 + β·softmax_{c≠y}(z_c/T), with T ≠ 1 so that T matters
- TRADES: CE(x) + β·KL(p(x) ‖ p(x′)) and PGD-AT: CE(x′), on a fixed x′ given in place of the attack
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sagr import methods
from sagr.methods import get_objective

C, SIDE = 4, 3
D = SIDE * SIDE
LAM, BETA, T, BETA_TRADES = 0.7, 0.5, 2.5, 3.0


def linear_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(D, C)).double()


def tiny_batch(n: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(5)
    return torch.rand(n, 1, SIDE, SIDE, generator=g, dtype=torch.float64), torch.randint(
        0, C, (n,), generator=g
    )


def weights(model: nn.Module) -> torch.Tensor:
    return model[1].weight.detach()


def omega(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """SAGR's class weights, one example and one class at a time."""
    out = torch.empty_like(z)
    for i in range(len(y)):
        t = int(y[i])
        others = [c for c in range(C) if c != t]
        denom = sum(math.exp(z[i, c].item() / T) for c in others)
        for c in range(C):
            out[i, c] = 1 - BETA if c == t else 1 + BETA * math.exp(z[i, c].item() / T) / denom
    return out


def residual(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.softmax(z, 1) - F.one_hot(y, C).double()


def check(terms, ce: torch.Tensor, reg: float, coefficient: float) -> None:
    assert terms.ce == pytest.approx(ce.item(), rel=1e-12)
    assert terms.reg == pytest.approx(reg, rel=1e-9)
    assert terms.loss.item() == pytest.approx(ce.item() + coefficient * reg, rel=1e-9)


def test_jr_is_ce_plus_half_lambda_frobenius_norm() -> None:
    model, (x, y) = linear_model(), tiny_batch()
    terms = get_objective("jr")(model, x, y, {"lam": LAM, "estimator": "exact", "n_proj": 1})
    z = model(x).detach()
    check(terms, F.cross_entropy(z, y), weights(model).pow(2).sum().item(), LAM / 2)


@pytest.mark.parametrize("estimator", ["projection", "jvp"])
def test_jr_weighs_any_estimate_by_half_lambda(estimator: str) -> None:
    model, (x, y) = linear_model(), tiny_batch()
    terms = get_objective("jr")(model, x, y, {"lam": LAM, "estimator": estimator, "n_proj": 2})
    assert terms.reg > 0
    assert terms.loss.item() == pytest.approx(terms.ce + LAM / 2 * terms.reg, rel=1e-9)


def test_igr_is_ce_plus_lambda_input_gradient_norm() -> None:
    model, (x, y) = linear_model(), tiny_batch()
    terms = get_objective("igr")(model, x, y, {"lam": LAM})
    z = model(x).detach()
    grads = residual(z, y) @ weights(model)  # row i: ∇_x CE_i = Wᵀ(p_i − e_{y_i})
    check(terms, F.cross_entropy(z, y), grads.pow(2).sum(1).mean().item(), LAM)


def test_sagr_weights_follow_the_formula_with_a_temperature() -> None:
    model, (x, y) = linear_model(), tiny_batch()
    z = model(x).detach() * 3  # spread logits: T changes the weights visibly
    torch.testing.assert_close(methods.sagr_weights(z, y, BETA, T), omega(z, y))
    assert not torch.allclose(methods.sagr_weights(z, y, BETA, 1.0), omega(z, y), atol=1e-3)


def test_sagr_decoupled_is_ce_plus_half_lambda_weighted_row_norms() -> None:
    model, (x, y) = linear_model(), tiny_batch()
    hp = {"lam": LAM, "beta": BETA, "T": T, "form": "decoupled", "estimator": "exact", "n_proj": 1}
    terms = get_objective("sagr")(model, x, y, hp)
    z = model(x).detach()
    rows = weights(model).pow(2).sum(1)  # ‖W_c‖²
    reg = (omega(z, y) * rows).sum(1).mean().item()
    check(terms, F.cross_entropy(z, y), reg, LAM / 2)
    # β = 0 is JR.
    jr = get_objective("sagr")(model, x, y, {**hp, "beta": 0.0})
    assert jr.reg == pytest.approx(rows.sum().item(), rel=1e-9)


def test_sagr_coupled_is_ce_plus_half_lambda_weighted_residual_gradient() -> None:
    model, (x, y) = linear_model(), tiny_batch()
    hp = {"lam": LAM, "beta": BETA, "T": T, "form": "coupled", "estimator": "projection", "n_proj": 1}
    terms = get_objective("sagr")(model, x, y, hp)
    z = model(x).detach()
    v = omega(z, y) * residual(z, y)
    check(terms, F.cross_entropy(z, y), (v @ weights(model)).pow(2).sum(1).mean().item(), LAM / 2)


def _fixed_adversary(x: torch.Tensor) -> torch.Tensor:
    return (x + 0.2 * torch.sign(torch.sin(17 * x))).clamp(0, 1)


def test_trades_is_ce_plus_beta_kl_of_clean_to_adversarial(monkeypatch) -> None:
    model, (x, y) = linear_model(), tiny_batch()
    x_adv = _fixed_adversary(x)
    monkeypatch.setattr(methods, "trades_examples", lambda model, x, y, hp: x_adv)
    terms = get_objective("trades")(
        model, x, y, {"beta_trades": BETA_TRADES, "eps": 0.2, "steps": 1, "alpha_over_eps": 1.0}
    )
    p, q = torch.softmax(model(x), 1).detach(), torch.softmax(model(x_adv), 1).detach()
    kl = (p * (p / q).log()).sum(1).mean().item()  # KL(p(x) ‖ p(x′)), batch mean
    reverse = (q * (q / p).log()).sum(1).mean().item()
    assert abs(kl - reverse) > 1e-3 * kl  # the direction is visible on this batch
    check(terms, F.cross_entropy(model(x), y).detach(), kl, BETA_TRADES)


def test_pgd_at_trains_on_the_adversarial_examples(monkeypatch) -> None:
    model, (x, y) = linear_model(), tiny_batch()
    x_adv = _fixed_adversary(x)
    monkeypatch.setattr(methods, "pgd_examples", lambda model, x, y, hp: x_adv)
    terms = get_objective("pgd_at")(model, x, y, {"eps": 0.2, "steps": 1, "alpha_over_eps": 1.0})
    ce_adv = F.cross_entropy(model(x_adv), y).item()
    assert ce_adv != pytest.approx(F.cross_entropy(model(x), y).item(), rel=1e-3)
    assert terms.loss.item() == pytest.approx(ce_adv, rel=1e-12) and terms.reg == 0


def test_pgd_at_loss_exceeds_the_clean_loss_with_the_real_attack() -> None:
    model, (x, y) = linear_model(), tiny_batch(32)
    torch.manual_seed(0)
    terms = get_objective("pgd_at")(model, x, y, {"eps": 0.1, "steps": 5, "alpha_over_eps": 0.5})
    assert terms.loss.item() > F.cross_entropy(model(x), y).item() + 0.01
