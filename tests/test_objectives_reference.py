"""Each training objective against its formula in METHOD.md, computed directly on a tiny batch of
a linear model z = W·x + b, whose input Jacobian is W for every example:

- JR:     CE + (λ/2)·‖W‖²_F
- IGR:    CE + λ·mean_i ‖Wᵀ(p_i − e_{y_i})‖²
- SAGR:   CE + (λ/2)·mean_i Σ_c ω_ic ‖W_c‖² (decoupled) or ‖Wᵀ(ω_i ⊙ (p_i − e_{y_i}))‖² (coupled),
          ω_y = 1 − β, ω_c = 1 + β·softmax_{c≠y}(z_c/T), with T ≠ 1 so that T matters
- TRADES: CE(x) + β·KL(p(x) ‖ p(x′)) and PGD-AT: CE(x′), on a fixed x′ given in place of the attack
- standard: CE alone
- the estimators: n_proj Rademacher probes, whose mean and variance are known in closed form
- the inner maximisations (PGD, TPGD) against a two-class linear model, where they end in closed form
"""

from __future__ import annotations

import itertools
import math

import pytest
import scipy.stats
import torch
import torch.nn.functional as F
from torch import nn

from sagr import methods
from sagr.methods import get_objective, sagr_penalty

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
    assert terms.ce == pytest.approx(ce_adv, rel=1e-12)  # the logged CE is the adversarial one


def test_pgd_at_loss_exceeds_the_clean_loss_with_the_real_attack() -> None:
    model, (x, y) = linear_model(), tiny_batch(32)
    torch.manual_seed(0)
    terms = get_objective("pgd_at")(model, x, y, {"eps": 0.1, "steps": 5, "alpha_over_eps": 0.5})
    assert terms.loss.item() > F.cross_entropy(model(x), y).item() + 0.01


def test_standard_is_plain_cross_entropy_without_a_regulariser() -> None:
    model, (x, y) = linear_model(), tiny_batch()
    terms = get_objective("standard")(model, x, y, {})
    z = model(x).detach()
    ce = (z.logsumexp(1) - z[torch.arange(len(y)), y]).mean()  # −log p_y, averaged by hand
    check(terms, ce, 0.0, 0.0)


# ------------------------------------------------------------------ the estimators' probes and their count
def _quadratic_form_moments(m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of vᵀMv for Rademacher v (M symmetric, batched): tr M and 2·Σ_{j≠k} M_jk²."""
    diag = torch.diagonal(m, dim1=-2, dim2=-1)
    return diag.sum(-1), 2 * (m.pow(2).sum((-2, -1)) - diag.pow(2).sum(-1))


@pytest.mark.parametrize("estimator", ["projection", "jvp"])
@pytest.mark.parametrize("method", ["jr", "sagr"])
def test_n_proj_probes_average_to_the_weighted_norm_with_a_quarter_of_one_probes_variance(
    method: str, estimator: str
) -> None:
    """With ω_i the class weights (1 for JR), one probe estimates Σ_c ω_ic ‖W_c‖² by a Rademacher quadratic
    form vᵀMv: output space M = diag(√ω_i)·W·Wᵀ·diag(√ω_i), input space M = Wᵀ·diag(ω_i)·W. Its mean
    (tr M) and variance (2·Σ_{j≠k} M_jk²) are known in closed form, so n_proj = 4 independent probes
    give the batch-mean regulariser that mean and a variance of Σ_i Var_i / (4·B²)."""
    n_proj, repeats = 4, 400
    model, (x, y) = linear_model(), tiny_batch()
    W, z = weights(model), model(x).detach()
    w = torch.ones_like(z) if method == "jr" else omega(z, y)
    if estimator == "projection":
        m = w.sqrt()[:, :, None] * (W @ W.T) * w.sqrt()[:, None, :]  # B×C×C
    else:
        m = torch.einsum("cd,bc,ce->bde", W, w, W)  # B×D×D
    mean_i, var_i = _quadratic_form_moments(m)
    mean, var = mean_i.mean().item(), (var_i.sum() / (n_proj * len(y) ** 2)).item()
    hp = {"lam": LAM, "beta": BETA, "T": T, "form": "decoupled", "estimator": estimator, "n_proj": n_proj}
    torch.manual_seed(0)
    regs = torch.tensor([get_objective(method)(model, x, y, hp).reg for _ in range(repeats)])
    assert abs(regs.mean().item() - mean) < 4 * math.sqrt(var / repeats)
    # One probe instead of four would show four times the variance.
    assert 0.7 < regs.var().item() / var < 1.4


def test_sagr_penalty_defaults_to_one_decoupled_output_probe_from_the_given_generator() -> None:
    """Called without form, estimator or n_proj, the penalty is the decoupled form estimated by one
    Rademacher output probe v ∈ {±1}^C: each example's value is one of the 2^C values ‖Wᵀ(√ω ⊙ v)‖², and
    the draw comes from the generator passed in, whatever the global random state."""
    model, (x, y) = linear_model(), tiny_batch()
    xg = x.clone().requires_grad_(True)
    z = model(xg)
    signs = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=C)), dtype=torch.float64)  # 2^C × C
    one_probe = ((omega(z.detach(), y).sqrt()[:, None, :] * signs) @ weights(model)).pow(2).sum(-1)

    def draw(global_seed: int) -> torch.Tensor:
        torch.manual_seed(global_seed)
        return sagr_penalty(z, xg, y, BETA, T, generator=torch.Generator().manual_seed(4)).detach()

    got = draw(1)
    assert torch.all((one_probe - got[:, None]).abs().min(1).values < 1e-9)
    torch.testing.assert_close(draw(2), got, rtol=0, atol=0)


def test_trades_with_its_own_attack_adds_beta_kl_to_the_examples_it_found() -> None:
    model, (x, y) = linear_model(), tiny_batch(16)
    hp = {"beta_trades": BETA_TRADES, "eps": 0.2, "steps": 3, "alpha_over_eps": 0.5}
    torch.manual_seed(3)
    terms = get_objective("trades")(model, x, y, hp)
    torch.manual_seed(3)  # the same starting noise of the inner maximisation
    x_adv = methods.trades_examples(model, x, y, hp)
    assert 0 < (x_adv - x).abs().max() <= 0.2 + 1e-12
    p, q = torch.softmax(model(x), 1).detach(), torch.softmax(model(x_adv), 1).detach()
    kl = (p * (p / q).log()).sum(1).mean().item()
    assert kl > 1e-4
    check(terms, F.cross_entropy(model(x), y).detach(), kl, BETA_TRADES)


# ------------------------------------------------------------------ the inner maximisations' budgets
# Against a two-class linear model z = W·x + b the input gradient of CE(z, y) is p_{1−y}·(W_{1−y} − W_y)
# and that of KL(p(x) ‖ p(x′)) is (p₁(x′) − p₁(x))·(W₁ − W₀): every step of a sign-gradient attack moves
# each coordinate by ±α in a direction that never changes, so the result is known in closed form.
BUDGET = {"eps": 0.1, "alpha_over_eps": 0.25}


def _two_class_case(n: int = 64) -> tuple[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    # Float64: TPGD's start x + 0.001·N(0, I) can move a logit by ~1e-8, below float32's resolution.
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2)).double()
    with torch.no_grad():
        # W₀ = 0 and |W₁| ≥ 0.05: the gradient's sign is that of W₁ (no cancellation of two rows).
        w = model[1].weight
        w[1] = torch.sign(w[1]) * (0.05 + w[1].abs())
        w[0] = 0.0
    g = torch.Generator().manual_seed(2)
    # 0.1 away from the box's faces: neither the random start nor a step is ever clipped to [0, 1].
    x = 0.2 + 0.6 * torch.rand(n, 1, 8, 8, generator=g, dtype=torch.float64)
    y = torch.randint(0, 2, (n,), generator=g)
    direction = torch.sign(model[1].weight[1] - model[1].weight[0]).detach().view(1, 1, 8, 8)
    return model, x, y, direction


def test_pgd_examples_take_steps_of_alpha_from_a_uniform_start_in_the_eps_ball() -> None:
    """From a uniform start u ~ U(−ε, ε) per coordinate, K steps of α up the CE gradient's fixed sign s
    end at s·min(s·u + K·α, ε): uniform on [−ε + K·α, ε) plus an atom at ε of mass K·α/(2ε)."""
    model, x, y, direction = _two_class_case()
    steps = 2
    hp = {**BUDGET, "steps": steps}
    eps, alpha = hp["eps"], hp["alpha_over_eps"] * hp["eps"]
    torch.manual_seed(0)
    x_adv = methods.pgd_examples(model, x, y, hp)
    s = direction * (1 - 2 * y).view(-1, 1, 1, 1)  # ascent direction of CE, per example
    t = ((x_adv - x) * s).flatten()
    assert t.min() >= -eps + steps * alpha - 1e-6 and t.max() <= eps + 1e-6
    at_eps = t > eps - 1e-5
    assert at_eps.float().mean().item() == pytest.approx(steps * alpha / (2 * eps), abs=0.03)
    inside = t[~at_eps].numpy()
    assert (
        scipy.stats.kstest(inside, "uniform", args=(-eps + steps * alpha, 2 * eps - steps * alpha)).pvalue
        > 1e-3
    )


@pytest.mark.parametrize("steps", [2, 6])
def test_trades_examples_take_steps_of_alpha_up_the_kl_inside_the_eps_ball(steps: int) -> None:
    """From x + 0.001·N(0, I), K steps of α move every coordinate of an example by min(K·α, ε) (up to the
    start's noise) along ±(W₁ − W₀), one sign per example: the one that moves p(x′) away from p(x)."""
    model, x, y, direction = _two_class_case()
    hp = {**BUDGET, "steps": steps}
    eps, alpha = hp["eps"], hp["alpha_over_eps"] * hp["eps"]
    torch.manual_seed(0)
    x_adv = methods.trades_examples(model, x, y, hp)
    delta = x_adv - x
    torch.testing.assert_close(
        delta.abs(), torch.full_like(delta, min(steps * alpha, eps)), rtol=0, atol=0.005
    )
    along = torch.sign(delta) * direction  # +1 everywhere or −1 everywhere within an example
    assert torch.all(along.flatten(1).amin(1) == along.flatten(1).amax(1))
    with torch.no_grad():
        p1, q1 = torch.softmax(model(x), 1)[:, 1], torch.softmax(model(x_adv), 1)[:, 1]
    assert torch.equal(torch.sign(q1 - p1), along.flatten(1)[:, 0])
