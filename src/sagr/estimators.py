"""Estimators of each example's weighted Jacobian norm Σ_c ω_c ‖∇_x z_c‖², per example under BatchNorm.

Three estimators (``estimator`` in the config), all unbiased for the same quantity:

- ``exact``: all C rows of the Jacobian, as C vector-Jacobian products batched into one
  vmapped double backward. It costs at most about C× a ``projection`` step, by nature.
- ``projection``: output-space Rademacher probes v ∈ {±1}^C (E[vvᵀ] = I):
  E‖Jᵀ(√ω ⊙ v)‖² = Σ_c ω_c ‖g_c‖², one double backward per probe (Hoffman et al. 2019).
- ``jvp``: input-space Rademacher probes v ∈ {±1}^D (E[vvᵀ] = I; lower variance than Gaussian
  probes): E Σ_c ω_c (g_c · v)² = Σ_c ω_c ‖g_c‖². The Jacobian-vector product Jv comes from
  forward-mode AD (``torch.autograd.forward_ad``) in the same pass as the logits, so there is no
  second-order backward graph; the training backward differentiates through the tangent.
  ``n_proj`` probes cost ``n_proj`` forward passes. Its variance per draw differs from
  ``projection``'s (the benchmark reports both).

Per-example semantics under BatchNorm. In train mode BatchNorm normalises with the batch's
statistics, so a naive double backward mixes examples: it propagates every example's cotangent
through the shared mean and variance. Here every example's penalty is its own Jacobian
∂z_i/∂x_i *at the batch's normalisation statistics*, which are treated as constants with respect
to the input (as if the layer were in eval mode with running statistics equal to this batch's
mean and biased variance). They stay functions of the parameters, so the training gradient of the
penalty also flows through them, as the cross-entropy's does. Concretely:

- ``exact``/``projection`` (and the coupled SAGR form and IGR): the cross-entropy pass runs the
  model unchanged on the detached input (standard BatchNorm, running statistics updated once);
  forward hooks record each BatchNorm layer's batch mean and biased variance; a second pass on the
  input that requires grad normalises with those recorded statistics (no buffer update), and the
  penalty differentiates that pass. One extra forward pass on models with BatchNorm.
- ``jvp``: one dual forward pass; each BatchNorm layer computes its statistics from the primal
  activations (which carry the parameter graph but no tangent), so the tangent of example i
  depends on example i alone while the primal is the usual train-mode output.

Models without BatchNorm in train mode take exactly the code path (and random draws) of a
single forward pass: their numbers do not change.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
import torch.autograd.forward_ad as fwAD
import torch.nn.functional as F
from torch import Tensor, nn

from .defenses.common import ESTIMATORS  # the names, torch-free, for the run codec

# Estimators that work on logits already computed with an input that requires grad.
REVERSE_ESTIMATORS = ("exact", "projection")

WeightsFn = Callable[[Tensor], Tensor]


# --------------------------------------------------------------------------- reverse mode
def vjp(logits: Tensor, x: Tensor, cotangent: Tensor) -> Tensor:
    """Jᵀu per example (B×D), differentiable w.r.t. the parameters (and u)."""
    (g,) = torch.autograd.grad(logits, x, grad_outputs=cotangent, create_graph=True)
    return g.flatten(1)


def weighted_jacobian_norm(
    logits: Tensor,
    x: Tensor,
    weights: Tensor,
    estimator: str = "projection",
    n_proj: int = 1,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Per-example Σ_c ω_c ‖∇_x z_c‖² (B,) by a reverse-mode estimator (``exact`` or ``projection``).

    ``logits`` must come from a forward pass on ``x`` with ``x.requires_grad`` in which no example
    depends on another (see :func:`penalty_forward`). ``projection`` uses Rademacher v ∈ {±1}^C.
    """
    B, C = logits.shape
    if estimator == "exact":
        # All C vector-Jacobian products in one vmapped backward, not a Python loop.
        eye = torch.eye(C, dtype=logits.dtype, device=logits.device)
        cot = eye[:, None, :].expand(C, B, C)
        (g,) = torch.autograd.grad(logits, x, grad_outputs=cot, create_graph=True, is_grads_batched=True)
        sq = g.flatten(2).pow(2).sum(-1)  # C×B
        return (weights.t() * sq).sum(0)
    if estimator == "projection":
        if n_proj < 1:
            raise ValueError(f"n_proj must be >= 1, got {n_proj}")
        root_w = weights.sqrt()
        total = logits.new_zeros(B)
        for _ in range(n_proj):
            v = torch.randint(0, 2, (B, C), generator=generator, device="cpu")
            v = (2.0 * v - 1.0).to(logits.device, logits.dtype)
            total = total + vjp(logits, x, root_w * v).pow(2).sum(1)
        return total / n_proj
    if estimator == "jvp":
        raise ValueError("estimator 'jvp' needs the model, not logits: use jacobian_penalty")
    raise ValueError(f"unknown estimator {estimator!r}; expected one of {ESTIMATORS}")


# --------------------------------------------------------------------------- BatchNorm
def _batch_stat_norms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """BatchNorm layers that normalise with the batch's statistics in the model's current mode."""
    return [
        m
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and (m.training or m.running_mean is None)
    ]


def _reduce_dims(inp: Tensor) -> list[int]:
    return [0] + list(range(2, inp.dim()))


def _batch_stats(inp: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and biased variance per channel, as BatchNorm normalises with in train mode."""
    var, mean = torch.var_mean(inp, dim=_reduce_dims(inp), correction=0)
    return mean, var


def _normalise(m: nn.modules.batchnorm._BatchNorm, inp: Tensor, mean: Tensor, var: Tensor) -> Tensor:
    """BatchNorm's affine normalisation with given statistics (differentiable in all arguments)."""
    shape = (1, -1) + (1,) * (inp.dim() - 2)
    scale = torch.rsqrt(var + m.eps)
    if m.weight is not None:
        scale = scale * m.weight
    out = (inp - mean.view(shape)) * scale.view(shape)
    return out if m.bias is None else out + m.bias.view(shape)


def _update_running_stats(m: nn.modules.batchnorm._BatchNorm, inp: Tensor) -> None:
    """The buffer update nn.BatchNorm makes in train mode (momentum, unbiased variance, counter)."""
    if not (m.training and m.track_running_stats):
        return
    with torch.no_grad():
        m.num_batches_tracked.add_(1)
        momentum = (1.0 / float(m.num_batches_tracked)) if m.momentum is None else m.momentum
        F.batch_norm(inp.detach(), m.running_mean, m.running_var, None, None, True, momentum, m.eps)


@contextlib.contextmanager
def _patched_forward(norms: list[nn.Module], make_forward) -> Iterator[None]:
    """Temporarily replace each module's forward (an instance attribute shadows the class's)."""
    try:
        for m in norms:
            m.forward = make_forward(m)
        yield
    finally:
        for m in norms:
            m.__dict__.pop("forward", None)


def penalty_forward(model: nn.Module, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(x that requires grad, logits for the loss, logits for a per-example penalty).

    Without batch-statistics BatchNorm both logits are one tensor from one pass on the returned x.
    With it, the loss logits come from the model unchanged (on the detached x) and the penalty
    logits from a second pass normalised with that pass's recorded batch statistics, so that
    each example's input gradient is its own (module docstring).
    """
    norms = _batch_stat_norms(model)
    xg = x.detach().clone().requires_grad_(True)
    if not norms:
        logits = model(xg)
        return xg, logits, logits
    stats: dict[nn.Module, tuple[Tensor, Tensor]] = {}

    def record(m, inputs, output):
        stats[m] = _batch_stats(inputs[0])

    handles = [m.register_forward_hook(record) for m in norms]
    try:
        logits = model(x.detach())
    finally:
        for h in handles:
            h.remove()

    def frozen(m):
        mean, var = stats[m]
        return lambda inp: _normalise(m, inp, mean, var)

    with _patched_forward(norms, frozen):
        logits_pen = model(xg)
    return xg, logits, logits_pen


# --------------------------------------------------------------------------- forward mode
def _probe(shape: torch.Size, like: Tensor, generator: torch.Generator | None) -> Tensor:
    """Rademacher ±1 of ``shape``, drawn on the CPU (same stream on every device)."""
    v = torch.randint(0, 2, tuple(shape), generator=generator, device="cpu")
    return (2.0 * v - 1.0).to(like.device, like.dtype)


def _tangent_free_stats(update: bool):
    """BatchNorm forward whose batch statistics carry the parameter graph but no tangent."""

    def make(m: nn.modules.batchnorm._BatchNorm):
        def forward(inp: Tensor) -> Tensor:
            primal = fwAD.unpack_dual(inp).primal
            if update:
                _update_running_stats(m, primal)
            mean, var = _batch_stats(primal)
            return _normalise(m, inp, mean, var)

        return forward

    return make


def jvp_weighted_jacobian_norm(
    model: nn.Module,
    x: Tensor,
    weights_fn: WeightsFn,
    n_proj: int = 1,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """(logits, per-example Σ_c ω_c (g_c·v)² averaged over ``n_proj`` input-space probes).

    ``weights_fn`` maps the (detached) logits to ω (B×C). Rademacher v ∈ {±1}^D, so
    E_v = Σ_c ω_c ‖g_c‖². The logits of the first pass are returned for the loss; later passes
    (n_proj > 1) do not update BatchNorm's running statistics again.
    """
    if n_proj < 1:
        raise ValueError(f"n_proj must be >= 1, got {n_proj}")
    # A fresh tensor: were x a view (a slice of a whole dataset, say), forward AD would give its
    # base a tangent too and fill a zero tensor the size of the dataset on every step.
    x = x.detach().clone() if x._base is not None else x.detach()
    norms = _batch_stat_norms(model)
    logits = weights = total = None
    for k in range(n_proj):
        v = _probe(x.shape, x, generator)
        with fwAD.dual_level(), _patched_forward(norms, _tangent_free_stats(update=k == 0)):
            primal, tangent = fwAD.unpack_dual(model(fwAD.make_dual(x, v)))
        if k == 0:
            logits, weights = primal, weights_fn(primal.detach())
        term = (weights * tangent.pow(2)).sum(1)
        total = term if total is None else total + term
    return logits, total / n_proj


# --------------------------------------------------------------------------- entry point
def jacobian_penalty(
    model: nn.Module,
    x: Tensor,
    weights_fn: WeightsFn,
    estimator: str = "projection",
    n_proj: int = 1,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """(logits for the loss, per-example Σ_c ω_c ‖∇_x z_c‖² (B,)) with the chosen estimator.

    ``weights_fn`` maps detached logits to the class weights ω (B×C), e.g. ``torch.ones_like``
    for Jacobian regularisation.
    """
    if estimator == "jvp":
        return jvp_weighted_jacobian_norm(model, x, weights_fn, n_proj, generator)
    if estimator not in REVERSE_ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; expected one of {ESTIMATORS}")
    xg, logits, logits_pen = penalty_forward(model, x)
    weights = weights_fn(logits.detach())
    return logits, weighted_jacobian_norm(logits_pen, xg, weights, estimator, n_proj, generator)
