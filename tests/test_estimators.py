"""Jacobian-norm estimators: each against an exact per-example computation, with and without BatchNorm."""

import copy
import math

import pytest
import torch
from torch import nn

import sagr.estimators as est
from sagr.estimators import jacobian_penalty, penalty_forward, weighted_jacobian_norm
from sagr.methods import get_objective, sagr_weights
from sagr.models import build_model

C = 10


def preact(image_size=8, dtype=torch.float64):
    torch.manual_seed(0)
    return build_model("preact_resnet18", C, 3, image_size, [0.5] * 3, [0.25] * 3).to(dtype).train()


def small_cnn(dtype=torch.float64):
    torch.manual_seed(0)
    return build_model("small_cnn", C, 1, 28, [0.13], [0.31]).to(dtype).train()


def tiny_bn(dtype=torch.float64):
    """conv → BN → MLP on 1×4×4 inputs: small enough for a probe per input dimension."""
    torch.manual_seed(0)
    return (
        nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1),
            nn.BatchNorm2d(4),
            nn.Softplus(),
            nn.Flatten(),
            nn.Linear(64, 16),
            nn.BatchNorm1d(16),
            nn.Softplus(),
            nn.Linear(16, 5),
        )
        .to(dtype)
        .train()
    )


def inputs(shape, n, seed=1, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, *shape, generator=g, dtype=dtype), torch.randint(0, C, (n,), generator=g)


def batch_stats_eval_copy(model, x):
    """A copy in eval mode whose running statistics are ``x``'s batch statistics (mean, biased variance)."""
    ref = copy.deepcopy(model)
    norms = [m for m in ref.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append((m, i[0].detach()))) for m in norms]
    with torch.no_grad():
        ref(x)  # train mode: records each layer's input; the buffers it updates are overwritten below
    for h in hooks:
        h.remove()
    for m, inp in seen:
        dims = [0] + list(range(2, inp.dim()))
        m.running_mean.copy_(inp.mean(dims))
        m.running_var.copy_(inp.var(dims, unbiased=False))
    return ref.eval()


def per_example_reference(model, x, weights):
    """Σ_c ω_c ‖∂z_c/∂x_i‖² from a loop over single examples through an eval copy with the batch's statistics."""
    ref = batch_stats_eval_copy(model, x)
    rows = [torch.autograd.functional.jacobian(lambda t: ref(t[None])[0], xi).flatten(1) for xi in x]
    J = torch.stack(rows)  # B×C×D
    return (weights * J.pow(2).sum(-1)).sum(1)


def draws_agree(draws, exact, k=4.0):
    mean, se = draws.mean(0), draws.std(0) / math.sqrt(len(draws))
    assert torch.all(draws.std(0) > 0)  # a random estimator, not the exact value in disguise
    assert torch.all((mean - exact).abs() < k * se), (mean, exact, se)


# --------------------------------------------------------------------------- BatchNorm semantics
def test_exact_on_preact_resnet_in_train_mode_equals_loop_over_single_examples():
    model = preact()
    x, y = inputs((3, 8, 8), 3)
    weights = lambda z: sagr_weights(z, y, 0.5, 1.0)  # noqa: E731
    logits, pen = jacobian_penalty(model, x, weights, "exact")
    expected = per_example_reference(preact(), x, weights(logits.detach()))
    torch.testing.assert_close(pen.detach(), expected)
    # The naive double backward through the batch statistics measures something else.
    xg = x.clone().requires_grad_(True)
    z = preact()(xg)
    naive = weighted_jacobian_norm(z, xg, weights(z.detach()), "exact").detach()
    assert (naive - expected).abs().max() > 0.1 * expected.abs().max()


def test_projection_mean_converges_to_per_example_exact_on_preact_resnet():
    model = preact()
    x, _ = inputs((3, 8, 8), 4)
    xg, _, z = penalty_forward(model, x)
    ones = torch.ones_like(z)
    exact = weighted_jacobian_norm(z, xg, ones, "exact").detach()
    gen = torch.Generator().manual_seed(0)
    draws = torch.stack(
        [weighted_jacobian_norm(z, xg, ones, "projection", 1, gen).detach() for _ in range(100)]
    )
    draws_agree(draws, exact)


@pytest.mark.parametrize("estimator", ["exact", "projection", "jvp"])
def test_running_statistics_updated_once_as_in_a_standard_step(estimator):
    model, plain = preact(), preact()
    x, _ = inputs((3, 8, 8), 4)
    jacobian_penalty(model, x, torch.ones_like, estimator, n_proj=2)
    with torch.no_grad():
        plain(x)
    for (name, a), (_, b) in zip(model.named_buffers(), plain.named_buffers()):
        torch.testing.assert_close(a, b, msg=name)


def test_eval_mode_batchnorm_needs_no_second_pass():
    model = preact().eval()
    x, _ = inputs((3, 8, 8), 2)
    _, logits, logits_pen = penalty_forward(model, x)
    assert logits is logits_pen


def test_without_batchnorm_one_pass_and_the_same_draws():
    model = small_cnn(torch.float32)
    x, _ = inputs((1, 28, 28), 4, dtype=torch.float32)
    xg, logits, logits_pen = penalty_forward(model, x)
    assert logits is logits_pen
    got = weighted_jacobian_norm(
        logits, xg, torch.ones_like(logits), "projection", 2, torch.Generator().manual_seed(3)
    )
    # The pre-refactor path: one forward on a leaf copy of x, the same generator.
    x2 = x.clone().requires_grad_(True)
    z = model(x2)
    want = weighted_jacobian_norm(
        z, x2, torch.ones_like(z), "projection", 2, torch.Generator().manual_seed(3)
    )
    assert torch.equal(got, want)


# --------------------------------------------------------------------------- jvp estimator
def test_jvp_is_unbiased_on_small_cnn():
    model = small_cnn()
    x, y = inputs((1, 28, 28), 3)
    weights = lambda z: sagr_weights(z, y, 0.7, 1.0)  # noqa: E731
    _, exact = jacobian_penalty(model, x, weights, "exact")
    gen = torch.Generator().manual_seed(0)
    draws = torch.stack([jacobian_penalty(model, x, weights, "jvp", 1, gen)[1].detach() for _ in range(200)])
    draws_agree(draws, exact.detach())


def test_jvp_draw_is_each_examples_own_jacobian_times_its_probe_on_preact_resnet(monkeypatch):
    model = preact()
    x, y = inputs((3, 8, 8), 4)
    v = 2.0 * torch.randint(0, 2, x.shape, generator=torch.Generator().manual_seed(5)).to(x.dtype) - 1
    monkeypatch.setattr(est, "_probe", lambda shape, like, gen: v)
    weights = lambda z: sagr_weights(z, y, 0.5, 1.0)  # noqa: E731
    logits, pen = jacobian_penalty(model, x, weights, "jvp")
    # Independent: forward-mode through an eval-mode copy with this batch's statistics, one example at a time.
    ref = batch_stats_eval_copy(preact(), x)
    Jv = torch.cat([torch.autograd.functional.jvp(ref, xi[None], vi[None])[1] for xi, vi in zip(x, v)])
    torch.testing.assert_close(pen.detach(), (weights(logits.detach()) * Jv.pow(2)).sum(1))


def test_jvp_is_unbiased_on_preact_resnet_in_train_mode():
    model = preact()
    x, _ = inputs((3, 8, 8), 4)
    _, exact = jacobian_penalty(model, x, torch.ones_like, "exact")
    gen = torch.Generator().manual_seed(0)
    draws = torch.stack(
        [jacobian_penalty(model, x, torch.ones_like, "jvp", 1, gen)[1].detach() for _ in range(30)]
    )
    draws_agree(draws, exact.detach())


def test_jvp_with_a_basis_of_probes_equals_exact_value_and_training_gradient(monkeypatch):
    """Probes √D·e_d (d = 1..D) make the jvp average exact, so its parameter gradient must match
    exact's too: this checks the backward through the tangent and through BatchNorm's statistics."""
    x, y = inputs((1, 4, 4), 3)
    D = x[0].numel()
    basis = iter(math.sqrt(D) * torch.eye(D, dtype=x.dtype))
    monkeypatch.setattr(est, "_probe", lambda shape, like, gen: next(basis).view(1, *shape[1:]).expand(shape))
    weights = lambda z: sagr_weights(z, y % 5, 0.5, 1.0)  # noqa: E731

    def value_and_grad(estimator, n_proj):
        model = tiny_bn()
        logits, pen = jacobian_penalty(model, x, weights, estimator, n_proj)
        loss = torch.nn.functional.cross_entropy(logits, y % 5) + pen.mean()
        return pen.detach(), torch.autograd.grad(loss, list(model.parameters()))

    pen_exact, grad_exact = value_and_grad("exact", 1)
    pen_jvp, grad_jvp = value_and_grad("jvp", D)
    torch.testing.assert_close(pen_jvp, pen_exact)
    for a, b in zip(grad_jvp, grad_exact):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("method", ["jr", "sagr"])
def test_jvp_objective_trains_every_weight_like_the_exact_one(method):
    """The regulariser's gradient (loss − CE) through the jvp estimator points where the exact
    estimator's does (it is unbiased; with 64 probes the cosine is 0.8–0.9). CE alone gives every weight
    a gradient, so a detached penalty is seen only by comparing the regulariser's own gradient."""
    model = small_cnn(torch.float32)
    x, y = inputs((1, 28, 28), 8, dtype=torch.float32)
    weights = [p for p in model.parameters() if p.dim() > 1]

    def reg_grad(estimator, n_proj):
        hp = {"lam": 1.0, "estimator": estimator, "n_proj": n_proj}
        if method == "sagr":
            hp.update(beta=0.5, T=1.0, form="decoupled")
        torch.manual_seed(0)
        terms = get_objective(method)(model, x, y, hp)
        ce = torch.nn.functional.cross_entropy(model(x), y)
        return terms.reg, torch.cat([g.flatten() for g in torch.autograd.grad(terms.loss - ce, weights)])

    reg_jvp, g_jvp = reg_grad("jvp", 64)
    reg_exact, g_exact = reg_grad("exact", 1)
    assert reg_jvp == pytest.approx(reg_exact, rel=0.3)
    assert torch.nn.functional.cosine_similarity(g_jvp, g_exact, dim=0) > 0.7  # 0.84 (JR) measured
    assert g_jvp.norm() == pytest.approx(g_exact.norm().item(), rel=0.3)


def test_bad_estimator_arguments_are_named():
    model = small_cnn(torch.float32)
    x, _ = inputs((1, 28, 28), 2, dtype=torch.float32)
    with pytest.raises(ValueError, match="unknown estimator 'jpv'"):
        jacobian_penalty(model, x, torch.ones_like, "jpv")
    with pytest.raises(ValueError, match="n_proj must be >= 1"):
        jacobian_penalty(model, x, torch.ones_like, "jvp", 0)
