"""Which attack runs, at which ε, on which points: worked out from the suite alone (no torch).

At each L∞ ε the attacks on fixed points run first (every point, or a ``subset`` prefix), in
config order; then the cascade, AutoAttack-style: reference-role cross-checks on the pool the
fixed attacks left (so they see the same points as torchattacks' cascade), then the other
cascade attacks in config order, each on the points every earlier one left robust. One L2 run
(C&W) serves all of its budgets. Which points a cascade attack sees depends on what earlier
attacks broke, so a step names a rule, and `Cascade` applies it to the outcomes so far.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..attack_kinds import Role, attack_norm, is_cascade, resolve_budgets, role_of, validate_suite
from .records import Points


@dataclass(frozen=True)
class Step:
    """One attack run: at ``eps`` (one L∞ ε, or every L2 budget one C&W run serves) on ``points``.

    ``prefix``: a fixed attack's subset size, or a reference check's prefix of the cascade pool
    (the other cascade attacks have none: they run on every point still robust).
    ``breaks_pool``: what it breaks leaves the cascade's still-robust points (cross-checks do not:
    the reference must see the pool torchattacks' cascade saw, and masking check 3 needs the
    white-box result on the points Square broke)."""

    attack: str
    eps: tuple[float, ...]
    norm: str
    points: Points
    prefix: int | None
    breaks_pool: bool

    @property
    def budget(self) -> float | None:
        """The ε the attack is built with and its L∞ ball checked at (None: an L2 attack, no budget)."""
        return self.eps[0] if self.norm == "linf" else None


def _run_order(names: list[str], suite: dict) -> list[str]:
    fixed = [a for a in names if not is_cascade(suite[a])]
    ref = [a for a in names if is_cascade(suite[a]) and role_of(suite[a]) == Role.REFERENCE.value]
    return fixed + ref + [a for a in names if is_cascade(suite[a]) and a not in ref]


def _step(name: str, spec: dict, eps: tuple[float, ...], n: int) -> Step:
    role, norm = role_of(spec), attack_norm(spec["kind"])
    prefix = min(int(spec["subset"]), n) if "subset" in spec else None
    if is_cascade(spec):
        points = Points.CASCADE
        if role == Role.REFERENCE.value:  # a cross-check: a prefix (all, without `subset`) of the pool
            prefix = n if prefix is None else prefix
    else:
        points = Points.SUBSET if prefix is not None and prefix < n else Points.ALL
        prefix = None if points is Points.ALL else prefix
    breaks = role not in (Role.REFERENCE.value, Role.BLACKBOX.value)
    return Step(name, eps, norm, points, prefix, breaks)


def plan(suite: dict, eps_linf: list[float], eps_l2: list[float], n: int) -> list[Step]:
    """Every attack run of ``suite`` on ``n`` points, in the order they run."""
    validate_suite(suite)
    budgets = {name: resolve_budgets(spec, eps_linf, eps_l2) for name, spec in suite.items()}
    steps = [
        _step(name, spec, tuple(budgets[name]), n)
        for name, spec in suite.items()
        if attack_norm(spec["kind"]) == "l2"
    ]
    linf = [a for a in suite if attack_norm(suite[a]["kind"]) == "linf"]
    for eps in sorted({e for a in linf for e in budgets[a]}):
        for name in _run_order([a for a in linf if eps in budgets[a]], suite):
            steps.append(_step(name, suite[name], (eps,), n))
    return steps


class Cascade:
    """Which points each step runs on, as the plan runs: per L∞ ε, the points no attack broke so far
    (nor wrong clean), and the pool the fixed attacks left there (the cascade's points)."""

    def __init__(self, clean_ok: np.ndarray) -> None:
        self.clean = np.asarray(clean_ok, bool)
        self.alive: dict[float, np.ndarray] = {}
        self.pool: dict[float, np.ndarray] = {}

    def points(self, step: Step) -> np.ndarray:
        """The indices ``step`` runs on."""
        if step.points is not Points.CASCADE:
            return np.arange(len(self.clean) if step.prefix is None else step.prefix)
        alive = self.alive.setdefault(step.eps[0], self.clean.copy())
        pool = self.pool.setdefault(step.eps[0], alive.copy())  # fixed at the first cascade step
        return np.flatnonzero(alive if step.prefix is None else pool[: step.prefix])

    def ran(self, step: Step, outcome: np.ndarray) -> None:
        """Record a step's per-point outcome (1, 0, NOT_EVALUATED): what it broke leaves the cascade."""
        if step.norm == "linf" and step.breaks_pool:
            alive = self.alive.setdefault(step.eps[0], self.clean.copy())
            alive &= outcome != 0
