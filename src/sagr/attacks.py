"""Adversarial evaluation: torchattacks attacks built from an explicit config, run over a fixed subset."""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn as nn
import torchattacks
from torchattacks.attack import Attack

from .attack_kinds import (  # noqa: F401  (re-exported: the registry lives in a torch-free module)
    AA_APGD_RHO,
    AA_EOT_ITER,
    AA_FAB_ALPHA_MAX,
    AA_FAB_BETA,
    AA_FAB_ETA,
    AA_SQUARE_LOSS,
    AA_SQUARE_P_INIT,
    AA_SQUARE_RESC_SCHEDULE,
    ATTACK_KINDS,
    ATTACK_REGISTRY,
    BUDGET_KEYWORDS,
    COMMON_OPTIONAL,
    COMMON_REQUIRED,
    L2_KINDS,
    Norm,
    Role,
    apgd_strength,
    attack_norm,
    is_cascade,
    kind_of,
    resolve_budgets,
    role_of,
    validate_suite,
)

log = logging.getLogger("sagr")

# Slack for float round-off in the ε-ball / box checks.
_BALL_TOL: float = 1e-5


# ---------------------------------------------------------------------------
# Attacks not available in a usable form in torchattacks 3.5.1
# ---------------------------------------------------------------------------


def margin_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-example C&W margin max_{i≠y} z_i − z_y (> 0 iff misclassified)."""
    true = logits.gather(1, labels[:, None]).squeeze(1)
    other = logits.masked_fill(nn.functional.one_hot(labels, logits.shape[1]).bool(), -float("inf"))
    return other.amax(dim=1) - true


class MarginPGD(Attack):
    """L∞ PGD on the C&W margin loss (CW-∞); torchattacks' UPGD(loss='margin') masks the true logit
    with 0 instead of −∞ and divides the gradient by its mean |·| (NaN where the gradient is zero)."""

    def __init__(self, model: nn.Module, eps: float, alpha: float, steps: int, random_start: bool) -> None:
        super().__init__("MarginPGD", model)
        self.eps = eps
        self.alpha = alpha
        self.steps = steps
        self.random_start = random_start
        self.supported_mode = ["default"]

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Sign-gradient ascent on the margin, projected on the ε-ball ∩ [0,1]; returns the last iterate."""
        images = images.clone().detach().to(self.device)
        labels = labels.clone().detach().to(self.device)
        adv = images.clone()
        if self.random_start:
            adv = torch.clamp(adv + torch.empty_like(adv).uniform_(-self.eps, self.eps), 0, 1)
        for _ in range(self.steps):
            adv.requires_grad_(True)
            loss = margin_loss(self.get_logits(adv), labels).sum()
            grad = torch.autograd.grad(loss, adv)[0]
            adv = adv.detach() + self.alpha * grad.sign()
            delta = torch.clamp(adv - images, min=-self.eps, max=self.eps)
            adv = torch.clamp(images + delta, min=0, max=1).detach()
        return adv


class CWL2(torchattacks.CW):
    """torchattacks.CW with two fixes: the 'other' logit is the max over i≠y (upstream masks the true
    logit with 0, wrong when logits are negative: Harry24k/adversarial-attacks-pytorch#184), and pixels
    at exactly 0 or 1 can move (upstream atanh(±1)=±inf freezes them; Carlini scales by 0.999999)."""

    def f(self, outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """C&W objective term max(z_y − max_{i≠y} z_i, −κ) (targeted: the reverse)."""
        one_hot = nn.functional.one_hot(labels, outputs.shape[1]).bool()
        other = outputs.masked_fill(one_hot, -float("inf")).amax(dim=1)
        real = outputs.gather(1, labels[:, None]).squeeze(1)
        if self.targeted:
            return torch.clamp(other - real, min=-self.kappa)
        return torch.clamp(real - other, min=-self.kappa)

    def inverse_tanh_space(self, x: torch.Tensor) -> torch.Tensor:
        """atanh((2x−1)·0.999999), finite at x ∈ {0, 1}."""
        return torch.atanh(torch.clamp(x * 2 - 1, min=-1, max=1) * 0.999999)


def _with_restarts(attacks: list[Attack]) -> Attack:
    """One attack, or a MultiAttack that keeps per example the first restart that misclassifies it."""
    return attacks[0] if len(attacks) == 1 else torchattacks.MultiAttack(attacks, verbose=False)


def build_attack(kind_spec: dict, model: nn.Module, eps: float, n_classes: int, seed: int) -> Attack:
    """Build the attack object for one spec at budget ε through its registry entry, every argument explicit."""
    if kind_spec.get("kind") not in ATTACK_REGISTRY:
        raise ValueError(f"unknown attack kind {kind_spec.get('kind')!r}")
    return kind_of(kind_spec).build(kind_spec, model, float(eps), n_classes, seed)


def build_fgsm(spec: dict, model: nn.Module, eps: float, n_classes: int, seed: int) -> Attack:
    """torchattacks FGSM (no parameters besides ε)."""
    return torchattacks.FGSM(model, eps=eps)


def build_pgd(spec: dict, model: nn.Module, eps: float, n_classes: int, seed: int) -> Attack:
    """torchattacks PGD on CE, step α = alpha_over_eps·ε, restarts kept per example by MultiAttack."""
    alpha = float(spec["alpha_over_eps"]) * eps
    return _with_restarts(
        [
            torchattacks.PGD(
                model, eps=eps, alpha=alpha, steps=int(spec["steps"]), random_start=bool(spec["random_start"])
            )
            for _ in range(int(spec["restarts"]))
        ]
    )


def build_cw_inf(spec: dict, model: nn.Module, eps: float, n_classes: int, seed: int) -> Attack:
    """L∞ PGD on the C&W margin loss (MarginPGD), restarts as for PGD."""
    alpha = float(spec["alpha_over_eps"]) * eps
    return _with_restarts(
        [
            MarginPGD(
                model, eps=eps, alpha=alpha, steps=int(spec["steps"]), random_start=bool(spec["random_start"])
            )
            for _ in range(int(spec["restarts"]))
        ]
    )


def build_cw_l2(spec: dict, model: nn.Module, eps: float, n_classes: int, seed: int) -> Attack:
    """C&W L2 (fixed c); L2 budgets are applied afterwards on ‖δ‖₂ (C&W minimises the norm; it has no ε)."""
    return CWL2(
        model, c=float(spec["c"]), kappa=float(spec["kappa"]), steps=int(spec["steps"]), lr=float(spec["lr"])
    )


def _check_targets(name: str, n_targets: int, n_classes: int) -> None:
    """The targeted attacks of AutoAttack need C ≥ 4 and at most C − 1 target classes."""
    if n_targets > n_classes - 1:
        raise ValueError(f"{name}: n_target_classes={n_targets} > n_classes - 1 = {n_classes - 1}")
    if n_classes < 4:
        raise ValueError(f"{name}: the targeted DLR loss of APGD-T needs at least 4 classes")


def build_apgd_ce(spec: dict, model: nn.Module, eps: float, n_classes: int, seed: int) -> Attack:
    """torchattacks APGD on CE (AutoAttack's first component)."""
    return torchattacks.APGD(
        model,
        norm="Linf",
        eps=eps,
        steps=int(spec["n_iter"]),
        n_restarts=int(spec["n_restarts"]),
        seed=seed,
        loss="ce",
        eot_iter=int(spec["eot_iter"]),
        rho=float(spec["rho"]),
        verbose=False,
    )


def build_apgd_t(spec: dict, model: nn.Module, eps: float, n_classes: int, seed: int) -> Attack:
    """torchattacks APGD-T on the targeted DLR loss, n_target_classes most likely wrong classes."""
    n_targets = int(spec["n_target_classes"])
    _check_targets("apgd_t", n_targets, n_classes)
    atk = torchattacks.APGDT(
        model,
        norm="Linf",
        eps=eps,
        steps=int(spec["n_iter"]),
        n_restarts=int(spec["n_restarts"]),
        seed=seed,
        eot_iter=int(spec["eot_iter"]),
        rho=float(spec["rho"]),
        verbose=False,
        n_classes=n_classes,
    )
    atk.n_target_classes = n_targets  # torchattacks hard-wires n_classes - 1
    return atk


def build_fab_t(spec: dict, model: nn.Module, eps: float, n_classes: int, seed: int) -> Attack:
    """torchattacks FAB, targeted (multi_targeted), L∞."""
    n_targets = int(spec["n_target_classes"])
    _check_targets("fab_t", n_targets, n_classes)
    atk = torchattacks.FAB(
        model,
        norm="Linf",
        eps=eps,
        steps=int(spec["n_iter"]),
        n_restarts=int(spec["n_restarts"]),
        alpha_max=float(spec["alpha_max"]),
        eta=float(spec["eta"]),
        beta=float(spec["beta"]),
        verbose=False,
        seed=seed,
        multi_targeted=True,
        n_classes=n_classes,
    )
    atk.n_target_classes = n_targets
    return atk


def build_square(spec: dict, model: nn.Module, eps: float, n_classes: int, seed: int) -> Attack:
    """torchattacks Square, L∞."""
    return torchattacks.Square(
        model,
        norm="Linf",
        eps=eps,
        n_queries=int(spec["n_queries"]),
        n_restarts=int(spec["n_restarts"]),
        p_init=float(spec["p_init"]),
        loss=spec["loss"],
        resc_schedule=bool(spec["resc_schedule"]),
        seed=seed,
        verbose=False,
    )


class ReferenceAutoAttack(Attack):
    """Croce & Hein's reference AutoAttack (PyPI `pyautoattack`, imported as `pyautoattack`), standard version, L∞,
    as a torchattacks Attack. Its components are rebuilt with every parameter explicit (the config's budget),
    and its own cascade (run_standard_evaluation) and sanity checks run unchanged."""

    def __init__(self, model: nn.Module, spec: dict, eps: float, n_classes: int, seed: int) -> None:
        super().__init__("ReferenceAutoAttack", model)
        from pyautoattack import AutoAttack
        from pyautoattack.autopgd_base import APGDAttack, APGDAttack_targeted
        from pyautoattack.fab_pt import FABAttack_PT
        from pyautoattack.square import SquareAttack

        n_iter, n_restarts = int(spec["n_iter"]), int(spec["n_restarts"])
        n_targets = int(spec["n_target_classes"])
        _check_targets("autoattack_ref", n_targets, n_classes)
        dev = self.device
        aa = AutoAttack(model, norm="Linf", eps=eps, version="standard", seed=seed, device=dev)
        aa.apgd = APGDAttack(
            model,
            n_iter=n_iter,
            norm="Linf",
            n_restarts=n_restarts,
            eps=eps,
            seed=seed,
            loss="ce",
            eot_iter=AA_EOT_ITER,
            rho=AA_APGD_RHO,
            verbose=False,
            device=dev,
            logger=aa.logger,
        )
        aa.apgd_targeted = APGDAttack_targeted(
            model,
            n_iter=n_iter,
            norm="Linf",
            n_restarts=n_restarts,
            eps=eps,
            seed=seed,
            eot_iter=AA_EOT_ITER,
            rho=AA_APGD_RHO,
            n_target_classes=n_targets,
            verbose=False,
            device=dev,
            logger=aa.logger,
        )
        aa.fab = FABAttack_PT(
            model,
            norm="Linf",
            n_restarts=n_restarts,
            n_iter=n_iter,
            eps=eps,
            alpha_max=AA_FAB_ALPHA_MAX,
            eta=AA_FAB_ETA,
            beta=AA_FAB_BETA,
            verbose=False,
            seed=seed,
            targeted=True,
            device=dev,
            n_target_classes=n_targets,
        )
        aa.square = SquareAttack(
            model,
            norm="Linf",
            n_queries=int(spec["n_queries"]),
            eps=eps,
            p_init=AA_SQUARE_P_INIT,
            n_restarts=1,
            seed=seed,
            verbose=False,
            targeted=False,
            loss=AA_SQUARE_LOSS,
            resc_schedule=AA_SQUARE_RESC_SCHEDULE,
            device=dev,
        )
        aa.verbose = False
        # Private (torchattacks' repr skips "_" names): the object's repr holds a memory address, which
        # made two identical runs' robustness.json differ. The repr lists the parameters instead.
        self._aa = aa
        self.eps = eps
        self.version, self.n_iter, self.n_restarts = "standard", n_iter, n_restarts
        self.n_target_classes, self.n_queries, self.seed = n_targets, int(spec["n_queries"]), seed
        self.supported_mode = ["default"]

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The reference cascade APGD-CE → APGD-T → FAB-T → Square on this batch; returns its adversarial images."""
        images = images.clone().detach().to(self.device)
        labels = labels.clone().detach().to(self.device)
        adv, _ = self._aa.run_standard_evaluation(images, labels, batch_size=len(images))
        return adv.detach()


def build_reference_autoattack(spec: dict, model: nn.Module, eps: float, n_classes: int, seed: int) -> Attack:
    """The reference AutoAttack (pyautoattack) with the spec's budget."""
    return ReferenceAutoAttack(model, spec, eps, n_classes, seed)


def build_autoattack(spec: dict, model: nn.Module, eps: float, n_classes: int, seed: int) -> Attack:
    """Standard L∞ AutoAttack (APGD-CE, APGD-T, FAB-T, Square) configured like the reference, not torchattacks' default."""
    n_iter, n_restarts = int(spec["n_iter"]), int(spec["n_restarts"])
    n_targets, n_queries = int(spec["n_target_classes"]), int(spec["n_queries"])
    _check_targets("autoattack", n_targets, n_classes)
    common = {
        "n_iter": n_iter,
        "n_restarts": n_restarts,
        "n_target_classes": n_targets,
        "rho": AA_APGD_RHO,
        "eot_iter": AA_EOT_ITER,
        "alpha_max": AA_FAB_ALPHA_MAX,
        "eta": AA_FAB_ETA,
        "beta": AA_FAB_BETA,
    }
    square = {
        "n_queries": n_queries,
        "p_init": AA_SQUARE_P_INIT,
        "n_restarts": 1,
        "loss": AA_SQUARE_LOSS,
        "resc_schedule": AA_SQUARE_RESC_SCHEDULE,
    }
    parts = [
        build_apgd_ce(common, model, eps, n_classes, seed),
        build_apgd_t(common, model, eps, n_classes, seed),
        build_fab_t(common, model, eps, n_classes, seed),
        build_square(square, model, eps, n_classes, seed),
    ]
    # MultiAttack runs each component only on the points every earlier component failed on, like the reference.
    return torchattacks.MultiAttack(parts, verbose=False)


# ---------------------------------------------------------------------------
# Running a suite
# ---------------------------------------------------------------------------


def _check_adv(adv: torch.Tensor, x: torch.Tensor, eps: float | None, name: str) -> None:
    """Fail loudly if an adversarial batch is not finite, leaves [0,1], or (L∞) leaves the ε-ball."""
    if adv.shape != x.shape or not torch.isfinite(adv).all():
        raise AssertionError(f"{name}: adversarial batch has wrong shape or non-finite values")
    if adv.min() < -_BALL_TOL or adv.max() > 1 + _BALL_TOL:
        raise AssertionError(
            f"{name}: adversarial examples leave [0,1] "
            f"(min {adv.min().item():.3g}, max {adv.max().item():.3g})"
        )
    if eps is not None:
        linf = (adv - x).abs().amax().item()
        if linf > eps + _BALL_TOL:
            raise AssertionError(f"{name}: perturbation L∞ {linf:.6g} exceeds ε={eps:.6g}")


def run_attack(
    atk: Attack,
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    device: torch.device | str,
    eps_linf: float | None,
    name: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Attack x batch by batch; return (still classified correctly, ‖δ‖₂) per example."""
    correct, l2 = [], []
    for i in range(0, len(x), batch_size):
        xb, yb = x[i : i + batch_size].to(device), y[i : i + batch_size].to(device)
        adv = atk(xb, yb).detach()
        _check_adv(adv, xb, eps_linf, name)
        with torch.no_grad():
            correct.append((model(adv).argmax(1) == yb).cpu())
        l2.append((adv - xb).flatten(1).norm(dim=1).cpu())
    return torch.cat(correct).numpy(), torch.cat(l2).numpy()
