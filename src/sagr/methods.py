"""Training objectives: one function per method of METHOD.md, all with one signature.

Every objective is ``objective(model, x, y, hp) -> LossTerms`` where ``hp`` is the
method's hyper-parameter mapping (its entry in :mod:`sagr.defenses`); ``x`` lies in [0, 1].
The regularisers are means over the batch of per-example penalties.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import registry
from .defenses.sagr import FORMS
from .estimators import jacobian_penalty, penalty_forward, vjp, weighted_jacobian_norm


@dataclass
class LossTerms:
    """The total loss to minimise, and its parts for logging (detached floats)."""

    loss: Tensor
    ce: float
    reg: float


# --------------------------------------------------------------------------- SAGR core
def sagr_weights(logits: Tensor, y: Tensor, beta: float, T: float) -> Tensor:
    """Per-example class weights ω (B×C): ω_y = 1−β, ω_c = 1 + β·softmax_{c≠y}(z_c/T).

    Treated as constants (detached), and Σ_c ω_c = C for every β.
    """
    z = logits.detach()
    true = F.one_hot(y, z.shape[1]).bool()
    q = torch.softmax((z / T).masked_fill(true, float("-inf")), dim=1)
    return torch.where(true, torch.full_like(z, 1.0 - beta), 1.0 + beta * q)


def sagr_penalty(
    logits: Tensor,
    x: Tensor,
    y: Tensor,
    beta: float,
    T: float,
    form: str = "decoupled",
    estimator: str = "projection",
    n_proj: int = 1,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Per-example R_SAGR (B,) in the decoupled or coupled form of METHOD.md."""
    w = sagr_weights(logits, y, beta, T)
    if form == "decoupled":
        return weighted_jacobian_norm(logits, x, w, estimator, n_proj, generator)
    if form == "coupled":
        # The vector is known, so one double-backward; p stays live so that β = 0
        # reproduces input-gradient regularisation exactly, gradient included.
        residual = torch.softmax(logits, dim=1) - F.one_hot(y, logits.shape[1]).to(logits.dtype)
        return vjp(logits, x, w * residual).pow(2).sum(1)
    raise ValueError(f"unknown form {form!r}; expected one of {FORMS}")


def input_gradient_penalty(logits: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """Per-example ‖∇_x CE(f(x), y)‖² (B,) by double backpropagation."""
    ce = F.cross_entropy(logits, y, reduction="sum")  # sum: per-example gradients unscaled
    (g,) = torch.autograd.grad(ce, x, create_graph=True)
    return g.flatten(1).pow(2).sum(1)


# --------------------------------------------------------------------------- objectives
def standard(model: nn.Module, x: Tensor, y: Tensor, hp: Mapping) -> LossTerms:
    """Plain cross-entropy."""
    ce = F.cross_entropy(model(x), y)
    return LossTerms(ce, ce.item(), 0.0)


def pgd_examples(model: nn.Module, x: Tensor, y: Tensor, hp: Mapping) -> Tensor:
    """PGD-K on CE from a uniform random start inside the ε-ball (torchattacks.PGD)."""
    import torchattacks  # imported here: it costs ~1 s per job that never attacks

    eps = float(hp["eps"])
    attack = torchattacks.PGD(
        model, eps=eps, alpha=hp["alpha_over_eps"] * eps, steps=int(hp["steps"]), random_start=True
    )
    # torchattacks runs the inner maximisation in eval mode and restores train mode.
    return attack(x, y).detach()


def trades_examples(model: nn.Module, x: Tensor, y: Tensor, hp: Mapping) -> Tensor:
    """PGD-K on KL(p(x) ‖ p(x')) from x + 0.001·N(0, I) (torchattacks.TPGD, TRADES' own attack)."""
    import torchattacks

    eps = float(hp["eps"])
    attack = torchattacks.TPGD(model, eps=eps, alpha=hp["alpha_over_eps"] * eps, steps=int(hp["steps"]))
    return attack(x, y).detach()


def pgd_at(model: nn.Module, x: Tensor, y: Tensor, hp: Mapping) -> LossTerms:
    """Madry et al.: CE on PGD-K examples inside the ε-ball."""
    ce = F.cross_entropy(model(pgd_examples(model, x, y, hp)), y)
    return LossTerms(ce, ce.item(), 0.0)


def trades(model: nn.Module, x: Tensor, y: Tensor, hp: Mapping) -> LossTerms:
    """Zhang et al.: CE(x) + β_T·KL(p(x) ‖ p(x'))."""
    x_adv = trades_examples(model, x, y, hp)
    logits = model(x)
    ce = F.cross_entropy(logits, y)
    kl = F.kl_div(F.log_softmax(model(x_adv), dim=1), F.softmax(logits, dim=1), reduction="batchmean")
    return LossTerms(ce + hp["beta_trades"] * kl, ce.item(), kl.item())


def igr(model: nn.Module, x: Tensor, y: Tensor, hp: Mapping) -> LossTerms:
    """Ross & Doshi-Velez: CE + λ·‖∇_x CE‖² (per example, see sagr.estimators)."""
    x, logits, logits_pen = penalty_forward(model, x)
    reg = input_gradient_penalty(logits_pen, x, y).mean()
    ce = F.cross_entropy(logits, y)
    return LossTerms(ce + hp["lam"] * reg, ce.item(), reg.item())


def jr(model: nn.Module, x: Tensor, y: Tensor, hp: Mapping) -> LossTerms:
    """Hoffman et al.: CE + (λ/2)·‖J‖²_F (SAGR's estimator with ω = 1; per example, see sagr.estimators)."""
    logits, pen = jacobian_penalty(model, x, torch.ones_like, hp["estimator"], int(hp["n_proj"]))
    reg = pen.mean()
    ce = F.cross_entropy(logits, y)
    return LossTerms(ce + 0.5 * hp["lam"] * reg, ce.item(), reg.item())


def sagr(model: nn.Module, x: Tensor, y: Tensor, hp: Mapping) -> LossTerms:
    """The paper's method: CE + (λ/2)·R_SAGR with saliency-aware class weights (per example, see sagr.estimators)."""
    if hp["form"] == "decoupled":
        weights = lambda z: sagr_weights(z, y, hp["beta"], hp["T"])  # noqa: E731
        logits, pen = jacobian_penalty(model, x, weights, hp["estimator"], int(hp["n_proj"]))
    else:
        x, logits, logits_pen = penalty_forward(model, x)
        pen = sagr_penalty(
            logits_pen, x, y, hp["beta"], hp["T"], hp["form"], hp["estimator"], int(hp["n_proj"])
        )
    reg = pen.mean()
    ce = F.cross_entropy(logits, y)
    return LossTerms(ce + 0.5 * hp["lam"] * reg, ce.item(), reg.item())


Objective = Callable[[nn.Module, Tensor, Tensor, Mapping], LossTerms]


def get_objective(method: str) -> Objective:
    """The objective of ``method`` (its registry entry's); a clear error for an unknown name."""
    return registry.method(method).load_objective()
