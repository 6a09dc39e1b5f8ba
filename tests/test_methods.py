"""Each training objective against an independent computation that fails if it is wrong."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sagr import registry
from sagr.methods import (
    get_objective,
    input_gradient_penalty,
    pgd_examples,
    sagr_penalty,
    sagr_weights,
    trades_examples,
    weighted_jacobian_norm,
)

C = 5


def tiny_model(dtype=torch.float64, act=nn.Softplus) -> nn.Module:
    """A small conv net (smooth by default, so finite differences are accurate)."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 3, 3), act(), nn.Flatten(), nn.Linear(3 * 6 * 6, 16), act(), nn.Linear(16, C)
    ).to(dtype)


def batch(n=4, dtype=torch.float64):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(n, 1, 8, 8, generator=g, dtype=dtype)
    y = torch.randint(0, C, (n,), generator=g)
    return x, y


def full_jacobian(model, x):
    """Per-example Jacobian rows (B×C×D) from torch.autograd.functional.jacobian."""
    rows = [torch.autograd.functional.jacobian(lambda t: model(t.unsqueeze(0))[0], xi) for xi in x]
    return torch.stack([r.flatten(1) for r in rows])


def logits_with_grad(model, x):
    x = x.clone().requires_grad_(True)
    return x, model(x)


@pytest.mark.parametrize("beta", [0.0, 0.3, 1.0])
def test_weights_sum_to_num_classes_and_shift_mass_from_true_class(beta):
    x, y = batch()
    z = tiny_model()(x)
    w = sagr_weights(z, y, beta, T=2.0)
    assert torch.allclose(w.sum(1), torch.full((len(x),), float(C), dtype=w.dtype))
    assert torch.allclose(w[torch.arange(len(y)), y], torch.full((len(y),), 1 - beta, dtype=w.dtype))
    assert not w.requires_grad
    # False-class weights rank like the logits: the most confused class is penalised hardest.
    for i in range(len(y)):
        false = [c for c in range(C) if c != y[i]]
        if beta > 0:
            assert torch.equal(torch.argsort(z[i, false]), torch.argsort(w[i, false]))


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0])
def test_exact_estimator_equals_weighted_jacobian_rows(beta):
    model = tiny_model()
    x, y = batch()
    xg, z = logits_with_grad(model, x)
    w = sagr_weights(z, y, beta, T=1.5)
    got = weighted_jacobian_norm(z, xg, w, "exact")
    J = full_jacobian(model, x)
    expected = (w * J.pow(2).sum(-1)).sum(1)
    torch.testing.assert_close(got, expected.detach())


def test_projection_estimator_is_unbiased_for_weighted_norm():
    model = tiny_model()
    x, y = batch(n=2)
    xg, z = logits_with_grad(model, x)
    w = sagr_weights(z, y, 0.7, T=1.0)
    exact = weighted_jacobian_norm(z, xg, w, "exact").detach()
    gen = torch.Generator().manual_seed(0)
    draws = torch.stack(
        [weighted_jacobian_norm(z, xg, w, "projection", 1, gen).detach() for _ in range(2000)]
    )
    mean, se = draws.mean(0), draws.std(0) / math.sqrt(len(draws))
    assert torch.all((mean - exact).abs() < 4 * se), (mean, exact, se)
    assert torch.all(draws.std(0) > 0)  # it is a random estimator, not the exact value in disguise


def test_jr_projection_is_unbiased_for_frobenius_norm():
    model = tiny_model()
    x, _ = batch(n=2)
    xg, z = logits_with_grad(model, x)
    frob = full_jacobian(model, x).pow(2).sum((1, 2))
    draws = torch.stack(
        [weighted_jacobian_norm(z, xg, torch.ones_like(z), "projection").detach() for _ in range(2000)]
    )
    se = draws.std(0) / math.sqrt(len(draws))
    assert torch.all((draws.mean(0) - frob).abs() < 4 * se)


def test_decoupled_at_beta_zero_is_jacobian_regularisation():
    model = tiny_model()
    x, y = batch()
    xg, z = logits_with_grad(model, x)
    got = sagr_penalty(z, xg, y, beta=0.0, T=1.0, form="decoupled", estimator="exact")
    torch.testing.assert_close(got, full_jacobian(model, x).pow(2).sum((1, 2)).detach())


def test_coupled_at_beta_zero_is_input_gradient_regularisation_with_its_gradient():
    model = tiny_model()
    x, y = batch()
    xg, z = logits_with_grad(model, x)
    coupled = sagr_penalty(z, xg, y, beta=0.0, T=1.0, form="coupled")
    # Independent: ∇_x CE per example from a separate autograd call on the summed loss.
    x2 = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(model(x2), y, reduction="sum"), x2, create_graph=True)
    igr = g.flatten(1).pow(2).sum(1)
    torch.testing.assert_close(coupled, igr)
    p = list(model.parameters())
    torch.testing.assert_close(torch.autograd.grad(coupled.sum(), p), torch.autograd.grad(igr.sum(), p))


def test_coupled_form_matches_its_definition_for_nonzero_beta():
    model = tiny_model()
    x, y = batch()
    xg, z = logits_with_grad(model, x)
    w = sagr_weights(z, y, 0.6, 0.5)
    coeff = w * (torch.softmax(z, 1) - F.one_hot(y, C))
    expected = torch.einsum("bc,bcd->bd", coeff.detach(), full_jacobian(model, x)).pow(2).sum(1)
    got = sagr_penalty(z, xg, y, beta=0.6, T=0.5, form="coupled")
    torch.testing.assert_close(got.detach(), expected)


def test_input_gradient_penalty_agrees_with_finite_differences():
    model = tiny_model()
    x, y = batch()
    xg, z = logits_with_grad(model, x)
    pen = input_gradient_penalty(z, xg, y)
    (g,) = torch.autograd.grad(F.cross_entropy(model(xg), y, reduction="sum"), xg)
    torch.testing.assert_close(pen, g.flatten(1).pow(2).sum(1))
    # Directional derivative of each example's CE along u vs central differences.
    u = torch.randn_like(x)
    h = 1e-5
    ce = lambda t: F.cross_entropy(model(t), y, reduction="none")
    fd = (ce(x + h * u) - ce(x - h * u)) / (2 * h)
    torch.testing.assert_close((g * u).flatten(1).sum(1), fd, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("method", ["igr", "jr", "sagr"])
def test_regulariser_gradient_equals_that_of_the_direct_formula(method):
    """The regulariser's gradient w.r.t. every weight equals the gradient of its formula computed
    from the full Jacobian (torch.autograd.functional.jacobian with create_graph). Cross-entropy
    alone gives every weight a gradient, so only this comparison sees a detached or rescaled penalty."""
    model = tiny_model()
    x, y = batch()
    hp = {
        "igr": {"lam": 0.7},
        "jr": {"lam": 0.7, "estimator": "exact", "n_proj": 1},
        "sagr": {"lam": 0.7, "beta": 0.5, "T": 1.5, "form": "decoupled", "estimator": "exact", "n_proj": 1},
    }[method]
    terms = get_objective(method)(model, x, y, hp)
    weights = [p for p in model.parameters() if p.dim() > 1]
    got = torch.autograd.grad(terms.loss - F.cross_entropy(model(x), y), weights)

    rows = [
        torch.autograd.functional.jacobian(lambda t: model(t.unsqueeze(0))[0], xi, create_graph=True)
        for xi in x
    ]
    J = torch.stack([r.flatten(1) for r in rows])  # B×C×D, differentiable w.r.t. the weights
    z = model(x)
    if method == "igr":  # ∇ₓCE = Jᵀ(p − e_y), p not detached
        g = torch.einsum("bc,bcd->bd", torch.softmax(z, 1) - F.one_hot(y, C).to(z.dtype), J)
        reference = 0.7 * g.pow(2).sum(1).mean()
    elif method == "jr":
        reference = 0.35 * J.pow(2).sum((1, 2)).mean()
    else:  # ω are constants
        w = sagr_weights(z, y, 0.5, 1.5)
        reference = 0.35 * (w * J.pow(2).sum(-1)).sum(1).mean()
    want = torch.autograd.grad(reference, weights)
    for a, b in zip(got, want, strict=True):
        assert b.abs().sum() > 0
        torch.testing.assert_close(a, b)


def test_sagr_objective_is_ce_plus_half_lambda_penalty():
    model = tiny_model()
    x, y = batch()
    hp = {"lam": 0.3, "beta": 0.4, "T": 1.0, "form": "decoupled", "estimator": "exact", "n_proj": 1}
    terms = get_objective("sagr")(model, x, y, hp)
    xg, z = logits_with_grad(model, x)
    expected = F.cross_entropy(z, y) + 0.15 * sagr_penalty(z, xg, y, 0.4, 1.0, "decoupled", "exact").mean()
    torch.testing.assert_close(terms.loss, expected)


def test_pgd_at_examples_stay_in_eps_ball_and_unit_box_and_raise_loss():
    model = tiny_model(torch.float32)
    x, y = batch(n=16, dtype=torch.float32)
    hp = {"eps": 0.1, "steps": 10, "alpha_over_eps": 0.25}
    model.train()
    x_adv = pgd_examples(model, x, y, hp)
    assert model.training  # restored after the inner maximisation
    assert (x_adv - x).abs().max() <= 0.1 + 1e-6
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert F.cross_entropy(model(x_adv), y) > F.cross_entropy(model(x), y)


def test_trades_inner_maximisation_raises_kl():
    model = tiny_model(torch.float32)
    x, y = batch(n=16, dtype=torch.float32)
    hp = {"eps": 0.1, "steps": 10, "alpha_over_eps": 0.25}
    kl = lambda xa: F.kl_div(F.log_softmax(model(xa), 1), F.softmax(model(x), 1), reduction="batchmean")
    x_adv = trades_examples(model, x, y, hp)
    start = (x + 0.001 * torch.randn_like(x)).clamp(0, 1)
    assert (x_adv - x).abs().max() <= 0.1 + 1e-6
    assert kl(x_adv) > 10 * kl(start)


def test_every_method_has_an_objective_and_unknown_is_rejected():
    assert {"standard", "pgd_at", "trades", "igr", "jr", "sagr"} <= set(registry.methods())
    assert all(callable(get_objective(m)) for m in registry.methods())
    with pytest.raises(ValueError, match="unknown method 'sgar'"):
        get_objective("sgar")
