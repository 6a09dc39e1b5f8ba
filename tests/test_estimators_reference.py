"""Jacobian-norm estimators against independent references (issue 17's mutation survivors).

On a linear model z = Wx + b the Jacobian of every example is W, so Σ_c ω_c ‖∇_x z_c‖² = Σ_c ω_c ‖W_c‖²
and one Rademacher probe's value is known in closed form from the probe itself: ‖Wᵀ(√ω ⊙ v)‖² for an
output-space v, Σ_c ω_c (W_c · v)² for an input-space v. The probes are drawn from the caller's
generator on the CPU (the documented stream), so a generator seeded alike reproduces them.
"""

import pytest
import torch
from torch import nn

from sagr.estimators import jacobian_penalty, jvp_weighted_jacobian_norm, weighted_jacobian_norm

B, D, C = 4, 6, 3


def linear():
    torch.manual_seed(0)
    return nn.Linear(D, C).double()


def inputs():
    return torch.randn(B, D, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


def omega(logits):
    """Positive, per-example class weights that differ between classes and examples."""
    return torch.softmax(logits, dim=1) + 0.5


def rademacher(shape, gen):
    return 2.0 * torch.randint(0, 2, shape, generator=gen).double() - 1.0


def output_probe_value(W, w, v):
    return ((w.sqrt() * v) @ W).pow(2).sum(1)  # ‖Wᵀ(√ω ⊙ v)‖² per example


def input_probe_value(W, w, v):
    return (w * (v @ W.t()).pow(2)).sum(1)  # Σ_c ω_c (W_c · v)² per example


def test_exact_is_the_weighted_frobenius_norm_of_W():
    model, x = linear(), inputs()
    xg = x.clone().requires_grad_(True)
    logits = model(xg)
    w = omega(logits.detach())
    W = model.weight.detach()
    expected = (w * W.pow(2).sum(1)).sum(1)
    torch.testing.assert_close(weighted_jacobian_norm(logits, xg, w, "exact"), expected)


def test_projection_defaults_to_one_output_probe_from_the_generator():
    """Default estimator is ``projection`` with one probe; k probes average k successive draws."""
    model, x = linear(), inputs()
    W = model.weight.detach()
    xg = x.clone().requires_grad_(True)
    logits = model(xg)
    w = omega(logits.detach())
    ref = torch.Generator().manual_seed(7)
    one = output_probe_value(W, w, rademacher((B, C), ref))
    got = weighted_jacobian_norm(logits, xg, w, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(got, one)
    _, got = jacobian_penalty(model, x, omega, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(got, one)

    ref = torch.Generator().manual_seed(3)
    mean3 = sum(output_probe_value(W, w, rademacher((B, C), ref)) for _ in range(3)) / 3
    got = weighted_jacobian_norm(logits, xg, w, "projection", 3, torch.Generator().manual_seed(3))
    torch.testing.assert_close(got, mean3)


def test_jvp_defaults_to_one_input_probe_from_the_generator():
    model, x = linear(), inputs()
    W = model.weight.detach()
    w = omega(model(x).detach())
    ref = torch.Generator().manual_seed(5)
    one = input_probe_value(W, w, rademacher((B, D), ref))
    logits, got = jacobian_penalty(model, x, omega, "jvp", generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(got, one)
    torch.testing.assert_close(logits, model(x))
    _, got = jvp_weighted_jacobian_norm(model, x, omega, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(got, one)

    ref = torch.Generator().manual_seed(9)
    mean2 = sum(input_probe_value(W, w, rademacher((B, D), ref)) for _ in range(2)) / 2
    _, got = jacobian_penalty(model, x, omega, "jvp", 2, torch.Generator().manual_seed(9))
    torch.testing.assert_close(got, mean2)


def test_reverse_mode_refuses_jvp_unknown_estimators_and_no_probes():
    model, x = linear(), inputs()
    xg = x.clone().requires_grad_(True)
    logits = model(xg)
    w = torch.ones_like(logits)
    with pytest.raises(ValueError, match="needs the model"):
        weighted_jacobian_norm(logits, xg, w, "jvp")
    with pytest.raises(ValueError, match="unknown estimator 'bogus'"):
        weighted_jacobian_norm(logits, xg, w, "bogus")
    with pytest.raises(ValueError, match="n_proj must be >= 1"):
        weighted_jacobian_norm(logits, xg, w, "projection", 0)


def bn_net(**bn):
    """Linear → BatchNorm1d → Linear: at the batch's statistics J = W2 diag(γ/√(var+ε)) W1."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(D, 5), nn.BatchNorm1d(5, **bn), nn.Linear(5, C)).double().train()


def bn_jacobian(net, x):
    h = net[0](x).detach()
    bn = net[1]
    scale = (h.var(0, unbiased=False) + bn.eps).rsqrt()
    if bn.weight is not None:
        scale = scale * bn.weight.detach()
    return net[2].weight.detach() @ torch.diag(scale) @ net[0].weight.detach()


def test_batchnorm_without_affine_or_running_stats_uses_the_batch_statistics():
    net, x = bn_net(affine=False, track_running_stats=False), inputs()
    J = bn_jacobian(net, x)
    _, exact = jacobian_penalty(net, x, torch.ones_like, "exact")
    torch.testing.assert_close(exact, J.pow(2).sum().expand(B))
    ref = torch.Generator().manual_seed(2)
    one = input_probe_value(J, torch.ones(B, C, dtype=torch.float64), rademacher((B, D), ref))
    _, got = jacobian_penalty(net, x, torch.ones_like, "jvp", generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(got, one)


@pytest.mark.parametrize("n_proj", [1, 2])
def test_jvp_updates_cumulative_running_stats_once_per_step(n_proj):
    """momentum=None is a cumulative average: after two steps the running mean is the mean of the
    two batch means (unbiased variances likewise), whatever the number of probes."""
    net = bn_net(momentum=None)
    x1, x2 = inputs(), inputs() * 2.0 + 1.0
    for x in (x1, x2):
        jacobian_penalty(net, x, torch.ones_like, "jvp", n_proj, torch.Generator().manual_seed(0))
    h1, h2 = net[0](x1).detach(), net[0](x2).detach()
    bn = net[1]
    assert int(bn.num_batches_tracked) == 2
    torch.testing.assert_close(bn.running_mean, (h1.mean(0) + h2.mean(0)) / 2)
    torch.testing.assert_close(bn.running_var, (h1.var(0) + h2.var(0)) / 2)
