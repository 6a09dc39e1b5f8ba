"""Adversarial evaluation: torchattacks attacks built from an explicit config, run over a fixed subset."""

from __future__ import annotations

import logging
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torchattacks
from torchattacks.attack import Attack
from tqdm.auto import tqdm

from .attack_kinds import (  # noqa: F401  (re-exported: the registry lives in a torch-free module)
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
    correct_key,
    is_cascade,
    kind_of,
    resolve_budgets,
    role_of,
    validate_suite,
    worst_key,
)
from .models import predict

log = logging.getLogger("sagr")

# Constants of the reference AutoAttack (fra31/auto-attack, version='standard') that the
# config does not expose; passed explicitly so no torchattacks default is relied upon.
AA_APGD_RHO: float = 0.75
AA_EOT_ITER: int = 1
AA_FAB_ALPHA_MAX: float = 0.1
AA_FAB_ETA: float = 1.05
AA_FAB_BETA: float = 0.9
AA_SQUARE_P_INIT: float = 0.8
AA_SQUARE_RESC_SCHEDULE: bool = False  # reference AutoAttack builds SquareAttack(resc_schedule=False)
AA_SQUARE_LOSS: str = "margin"

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
        self.aa = aa
        self.eps = eps
        self.supported_mode = ["default"]

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The reference cascade APGD-CE → APGD-T → FAB-T → Square on this batch; returns its adversarial images."""
        images = images.clone().detach().to(self.device)
        labels = labels.clone().detach().to(self.device)
        adv, _ = self.aa.run_standard_evaluation(images, labels, batch_size=len(images))
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


def describe_autoattack(spec: dict) -> str:
    """One paragraph for the report: the AutoAttack configuration actually run and how it differs from the reference."""
    n_iter, n_restarts = int(spec["n_iter"]), int(spec["n_restarts"])
    n_targets, n_queries = int(spec["n_target_classes"]), int(spec["n_queries"])
    matches = n_iter == 100 and n_restarts == 1 and n_targets == 9 and n_queries == 5000
    budget = (
        ""
        if matches
        else " This run's budget is NOT the reference one (reference: 100 iterations, 1 restart, "
        "9 target classes, 5000 queries), so its robust accuracy is a looser upper bound than "
        "standard AutoAttack's."
    )
    return (
        "AutoAttack, standard version, L∞, assembled from torchattacks 3.5.1 components in a MultiAttack "
        "that runs each attack only on the points all earlier ones failed to fool (as the reference does): "
        f"APGD-CE ({n_iter} iterations, {n_restarts} restart(s), ρ={AA_APGD_RHO}), "
        f"APGD-T (targeted DLR loss, {n_iter} iterations, {_n_target_text(n_targets)}, {n_restarts} restart(s) each), "
        f"FAB-T ({n_iter} iterations, {_n_target_text(n_targets)}, {n_restarts} restart(s) each, "
        f"α_max={AA_FAB_ALPHA_MAX}, η={AA_FAB_ETA}, β={AA_FAB_BETA}) and Square ({n_queries} queries, "
        f"p_init={AA_SQUARE_P_INIT}, margin loss, 1 restart, p schedule not rescaled), all with one fixed seed. "
        "We do not use torchattacks.AutoAttack(version='standard') because it leaves APGD, APGD-T and FAB at "
        "torchattacks' default of 10 iterations (the reference uses 100), targets n_classes−1 classes instead "
        "of 9 (the same for 10-class data), and rescales Square's p schedule to the query budget (the reference "
        "passes resc_schedule=False). Remaining differences from the reference implementation (fra31/auto-attack): "
        "the component code is torchattacks' port of it (same algorithms and constants), and the reference's "
        "sanity checks (randomised or non-logit outputs, dynamic models, a warning when Square alone lowers "
        "the accuracy) are not run; the last one is covered by our gradient-masking check 3." + budget
    )


def _params_text(spec: dict) -> str:
    """'n_iter=100, n_restarts=1, …' for one spec (its kind's parameters, in registry order)."""
    return ", ".join(f"{k}={spec[k]}" for k in kind_of(spec).params)


def describe_suite(suite: dict) -> str:
    """One paragraph for the report: how the per-ε worst case is assembled (fixed attacks, then the
    AutoAttack-style cascade) and how the reference AutoAttack is run, every parameter stated."""
    fixed = [
        f"{n} ({kind_of(s).label}, {role_of(s)}, on "
        + (f"the first {s['subset']} points" if "subset" in s else "every point")
        + ")"
        for n, s in suite.items()
        if not is_cascade(s)
    ]
    cascade = [
        f"{n} ({kind_of(s).label}: {_params_text(s)}; budgets {s['budgets']})"
        for n, s in suite.items()
        if is_cascade(s) and role_of(s) != Role.REFERENCE.value
    ]
    refs = [
        f"{n} ({_params_text(s)}; budgets {s['budgets']})"
        for n, s in suite.items()
        if role_of(s) == Role.REFERENCE.value
    ]
    text = "At each ε the attacks on fixed points run first: " + "; ".join(fixed) + ". "
    if cascade:
        text += (
            "Then, as in AutoAttack's own cascade, each of the following torchattacks attacks runs only on the "
            "points that every earlier attack at that ε left correctly classified, so the worst case is exact "
            "on every evaluated point: " + "; ".join(cascade) + ". APGD ρ, EOT iterations, FAB α_max/η/β and "
            "Square's p_init/loss are the reference values, set explicitly. "
        )
    if refs:
        text += (
            "The reference AutoAttack (Croce & Hein's code, PyPI package pyautoattack, standard version, its "
            "components rebuilt with these explicit parameters) runs on the same points as torchattacks' "
            "cascade: " + "; ".join(refs) + "; the two are compared with an exact McNemar test. "
        )
    return text + (
        "A per-attack accuracy is measured on the points it ran on (n, and `points`: all, a prefix "
        "subset, or the cascade's still-robust points); only the worst case is over all points."
    )


def _n_target_text(n: int) -> str:
    """'9 target classes' with the right plural."""
    return f"{n} target class" + ("" if n == 1 else "es")


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


def _run_attack(
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


def _order_at_eps(names: list[str], suite: dict) -> list[str]:
    """Run order at one ε: attacks on fixed points (all or a prefix subset) first, in config order; then the
    cascade: reference attacks (on the pool those left), then the others in config order (cheap to expensive)."""
    fixed = [a for a in names if not is_cascade(suite[a])]
    ref = [a for a in names if is_cascade(suite[a]) and role_of(suite[a]) == Role.REFERENCE.value]
    rest = [a for a in names if is_cascade(suite[a]) and a not in ref]
    return fixed + ref + rest


def run_suite(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    suite: dict,
    eps_linf: list[float],
    eps_l2: list[float],
    n_classes: int,
    batch_size: int,
    seed: int,
    device: torch.device | str,
    progress: bool = True,
) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Run every (attack, ε) of the suite on (x, y) in [0,1]; return accuracy records and per-example correctness.

    At each ε, attacks without ``cascade`` run first, each on all points or on its ``subset`` prefix. Cascade
    attacks then run, AutoAttack-style, only on the points still robust: reference-role ones on the pool the
    fixed attacks left (so they see the same points as torchattacks' cascade), the others in config order,
    each on what the previous ones left. Skipped points are -1 in ``correct``; the per-point worst case over
    every attack is exact on all points, as if every attack had run on every point.
    """
    validate_suite(suite)
    x = torch.as_tensor(x, dtype=torch.float32).cpu()  # batches are moved to `device` one at a time
    y = torch.as_tensor(y, dtype=torch.long).cpu()
    if len(x) != len(y):
        raise ValueError(f"run_suite: {len(x)} inputs but {len(y)} labels")
    if len(x) and (x.min() < 0 or x.max() > 1):
        raise ValueError("run_suite expects inputs in [0,1] (normalisation belongs inside the model)")
    model = model.to(device).eval()
    n = len(x)
    y_np = y.numpy()

    t0 = time.perf_counter()
    clean_ok = predict(model, x, batch_size, device).numpy() == y_np
    records: list[dict] = [
        {
            "attack": "clean",
            "kind": "clean",
            "role": "clean",
            "norm": "none",
            "eps": 0.0,
            "accuracy": float(clean_ok.mean()) if n else float("nan"),
            "n": n,
            "n_correct": int(clean_ok.sum()),
            "points": "all",
            "params": {},
            "repr": "clean",
            "wall_time_s": time.perf_counter() - t0,
            "cpu_time_s": None,
        }
    ]
    correct: dict[str, np.ndarray] = {"clean": clean_ok.astype(np.int8)}

    budgets = {name: resolve_budgets(spec, eps_linf, eps_l2) for name, spec in suite.items()}
    # A progress bar only on a terminal; job logs get one line per attack x eps instead.
    bar = tqdm(
        total=sum(len(b) for b in budgets.values()),
        desc="attacks",
        disable=not (progress and sys.stderr.isatty()),
    )

    def record(
        name: str,
        idx: np.ndarray,
        eps: float,
        ok: np.ndarray,
        atk: Attack | None,
        wall: tuple[float, float],
        points: str,
    ) -> np.ndarray:
        """Store one (attack, ε) result measured on the points `idx`; clean-misclassified points count as wrong."""
        spec = suite[name]
        ok = ok & clean_ok[idx]
        arr = np.full(n, -1, dtype=np.int8)
        arr[idx] = ok
        correct[correct_key(name, eps)] = arr
        m = len(idx)
        records.append(
            {
                "attack": name,
                "kind": spec["kind"],
                "role": role_of(spec),
                "norm": attack_norm(spec["kind"]),
                "eps": float(eps),
                "accuracy": float(ok.mean()) if m else float("nan"),
                "n": m,
                "n_correct": int(ok.sum()),
                "points": points,
                "params": dict(spec),
                "repr": repr(atk) if atk is not None else "not run (no point left)",
                "wall_time_s": wall[0],
                "cpu_time_s": wall[1],
            }
        )
        log.info(
            "attack %s eps=%g: accuracy %.4f (n=%d) in %.1fs", name, eps, records[-1]["accuracy"], m, wall[0]
        )
        bar.update(1)
        return arr

    def fixed_points(spec: dict) -> tuple[np.ndarray, str]:
        m = min(int(spec.get("subset", n)), n)
        return np.arange(m), ("all" if m == n else "subset")

    def attack(
        name: str, eps: float | None, idx: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, Attack | None, tuple[float, float]]:
        """Run one attack on the points idx (ε None: an L2 attack, which has no budget);
        (still correct, ‖δ‖₂, the attack, (wall, CPU) seconds)."""
        if len(idx) == 0:
            return np.zeros(0, bool), np.zeros(0), None, (0.0, 0.0)
        torch.manual_seed(seed)
        atk = build_attack(suite[name], model, 0.0 if eps is None else eps, n_classes, seed)
        t0, c0 = time.perf_counter(), time.process_time()
        still, l2 = _run_attack(atk, model, x[idx], y[idx], batch_size, device, eps, name)
        return still, l2, atk, (time.perf_counter() - t0, time.process_time() - c0)

    for name, spec in suite.items():
        if attack_norm(spec["kind"]) != "l2":
            continue
        # One C&W run serves every L2 budget: robust at ε iff the attack failed or ‖δ‖₂ > ε.
        bar.set_postfix_str(f"{name} (L2, {len(budgets[name])} budgets)")
        idx, points = fixed_points(spec)
        still, l2, atk, wall = attack(name, None, idx)
        for eps in budgets[name]:
            record(name, idx, eps, still | (l2 > eps), atk, wall, points)  # wall is shared by all budgets

    linf = [a for a in suite if attack_norm(suite[a]["kind"]) == "linf"]
    for eps in sorted({e for a in linf for e in budgets[a]}):
        alive = clean_ok.copy()  # not broken by any attack at this ε so far (torchattacks side)
        pool: np.ndarray | None = None  # what the fixed attacks left: the points of the cascade
        for name in _order_at_eps([a for a in linf if eps in budgets[a]], suite):
            bar.set_postfix_str(f"{name} @ {eps:g}")
            spec = suite[name]
            if is_cascade(spec):
                pool = alive.copy() if pool is None else pool
                if role_of(spec) == Role.REFERENCE.value:  # a cross-check may take a prefix of the pool
                    idx = np.flatnonzero(pool[: min(int(spec.get("subset", n)), n)])
                else:
                    idx = np.flatnonzero(alive)
                points = "cascade"
            else:
                idx, points = fixed_points(spec)
            still, _, atk, wall = attack(name, eps, idx)
            arr = record(name, idx, eps, still, atk, wall, points)
            # Cross-checks leave the cascade's points alone: the reference must see the same pool as
            # torchattacks' cascade, and check 3 needs the white-box result on the points Square broke.
            if role_of(spec) not in (Role.REFERENCE.value, Role.BLACKBOX.value):
                alive &= arr != 0
    bar.close()
    return records, correct


def worst_case(
    correct: dict[str, np.ndarray], records: list[dict]
) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Per (norm, ε): a point is robust iff it is classified correctly and no attack run at that ε broke it.

    Measured on every point that some non-cascade attack evaluated (all n_eval points whenever one attack
    covers them all; a prefix where only subset attacks ran, e.g. at ε = 1). Cascade attacks skip only points
    already broken, so the result equals running every attack on every point. Returns the entries
    {norm, eps, accuracy, n, n_correct, attacks, apgd_strength} and the per-point arrays (worst_key).
    """
    clean = np.asarray(correct["clean"]).astype(bool)
    groups: dict[tuple[str, float], list[dict]] = {}
    for r in records:
        if r["norm"] in ("linf", "l2"):
            groups.setdefault((r["norm"], float(r["eps"])), []).append(r)
    out, arrays = [], {}
    for (norm, eps), recs in sorted(groups.items()):
        arrs = {r["attack"]: np.asarray(correct[correct_key(r["attack"], eps)]) for r in recs}
        fixed = [arrs[r["attack"]] for r in recs if r.get("points", "all") != "cascade"]
        measured = np.stack([a != -1 for a in fixed]).any(axis=0) if fixed else np.ones_like(clean)
        broken = np.stack([a == 0 for a in arrs.values()]).any(axis=0)
        robust = clean & ~broken & measured
        arr = np.where(measured, robust, -1).astype(np.int8)
        arrays[worst_key(norm, eps)] = arr
        n_pts = int(measured.sum())
        full = [r["params"] for r in recs if r.get("params") and r.get("points", "all") != "subset"]
        out.append(
            {
                "norm": norm,
                "eps": eps,
                "accuracy": float(robust.sum() / n_pts) if n_pts else float("nan"),
                "n": n_pts,
                "n_correct": int(robust.sum()),
                "attacks": list(arrs),
                "apgd_strength": bool(norm == "linf" and apgd_strength(full)),
            }
        )
    return out, arrays


#: Significance level of the torchattacks-vs-reference AutoAttack comparison (two-sided exact McNemar).
REFERENCE_ALPHA: float = 0.05


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts b and c (1.0 when there are none)."""
    from scipy.stats import binomtest

    return float(binomtest(b, b + c, 0.5).pvalue) if b + c else 1.0


def reference_comparison(correct: dict[str, np.ndarray], records: list[dict]) -> dict | None:
    """torchattacks' AutoAttack vs the reference on the same points, at the ε where a reference-role attack ran.

    The torchattacks side is the cascade of non-reference cascade attacks at that ε (they start from the same
    pool as the reference), or else an `autoattack`-kind attack on the points both evaluated. A point counts
    as robust for a side iff none of its attacks broke it. `differs` when the exact McNemar test on the
    discordant points rejects equal strength at REFERENCE_ALPHA.
    """
    refs = [r for r in records if r.get("role") == Role.REFERENCE.value and r["norm"] == "linf"]
    if not refs:
        return None
    ref = max(refs, key=lambda r: r["eps"])
    eps = float(ref["eps"])
    ref_arr = np.asarray(correct[correct_key(ref["attack"], eps)])
    same = [
        r
        for r in records
        if r["norm"] == "linf" and float(r["eps"]) == eps and r.get("role") != Role.REFERENCE.value
    ]
    cascade = [r for r in same if r.get("points") == "cascade"]
    ta = cascade or [r for r in same if r["kind"] == "autoattack"]
    if not ta:
        return None
    ta_arrs = [np.asarray(correct[correct_key(r["attack"], eps)]) for r in ta]
    # The first cascade attack saw the whole pool (later ones skip what earlier ones broke).
    ta_measured = ta_arrs[0] != -1 if cascade else np.stack([a != -1 for a in ta_arrs]).all(axis=0)
    shared = (ref_arr != -1) & ta_measured
    ta_ok = ~np.stack([a == 0 for a in ta_arrs]).any(axis=0) & shared
    ref_ok = (ref_arr == 1) & shared
    b = int((ta_ok & ~ref_ok).sum())  # the reference broke, torchattacks did not
    c = int((ref_ok & ~ta_ok).sum())
    n = int(shared.sum())
    p = mcnemar_exact(b, c)
    return {
        "eps": eps,
        "reference_attack": ref["attack"],
        "torchattacks_attacks": [r["attack"] for r in ta],
        "points": (
            (
                "pool left by the fixed attacks"
                + (
                    f", first {ref['params']['subset']} points"
                    if "subset" in (ref.get("params") or {})
                    else ""
                )
            )
            if cascade
            else "points both evaluated"
        ),
        "n": n,
        "n_correct": int(ref_ok.sum()),
        "accuracy": float(ref_ok.sum() / n) if n else float("nan"),
        "torchattacks_n_correct": int(ta_ok.sum()),
        "torchattacks_accuracy": float(ta_ok.sum() / n) if n else float("nan"),
        "only_reference_broke": b,
        "only_torchattacks_broke": c,
        "mcnemar_p": p,
        "alpha": REFERENCE_ALPHA,
        "differs": bool(p < REFERENCE_ALPHA),
    }
