"""Gradient-masking checks of METHOD.md as paired tests on the per-point results of one model.

Two attacks run on the same points give paired outcomes, so each comparison is an exact binomial
(McNemar) test on the points where exactly one of them succeeds: under "no masking" the suspicious
direction is not more likely than the other. A check fails when its smallest one-sided p-value is
below MASKING_ALPHA / m (Bonferroni over its m comparisons), so each check has family-wise level α.
Attacks are selected by their declared role (sagr.attack_kinds.Role) and kind, never by their names.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .attack_kinds import GRADIENT_KINDS, Role
from .robustness import AttackRecord, OutcomeTable, Points, discordant
from .robustness.budgets import UNBOUNDED_EPS  # check 2: L∞ budgets >= this are "unbounded" on [0,1] inputs

#: Family-wise significance level of each check (one-sided exact binomial tests, Bonferroni within a check).
MASKING_ALPHA: float = 0.05
#: Check 3's white-box side: gradient attacks of these roles (AutoAttack contains Square; the reference is a cross-check).
WHITEBOX_ROLES: tuple[str, ...] = (Role.BASELINE.value, Role.STRONG.value)
#: Kinds that count as white-box in check 3 (derived from the registry: gradient-only attacks).
WHITEBOX_KINDS: tuple[str, ...] = tuple(sorted(GRADIENT_KINDS))

_EPS_DECIMALS = 10  # ε values are matched after rounding (float round-trips through CSV/JSON)
REQUIRED_COLUMNS = ("attack", "kind", "norm", "eps", "accuracy", "n")


def one_sided_p(k: int, m: int) -> float:
    """P(X ≥ k) for X ~ Binomial(m, 1/2): the exact McNemar p-value that the first of two paired attacks
    is the one that 'wins' more often (1.0 when no point is discordant)."""
    from scipy.stats import binomtest

    return float(binomtest(k, m, 0.5, alternative="greater").pvalue) if m else 1.0


#: Each check's id and title, in the order they run and are reported.
CHECK_TITLES: dict[str, str] = {
    "monotone_eps": "Accuracy never rises as ε grows (fixed attack, paired)",
    "unbounded_zero": "Unbounded (ε = 1, L∞) attacks reach 0% accuracy",
    "blackbox_not_stronger": "Black-box Square is not stronger than white-box attacks (paired)",
    "more_steps_no_gain": "More steps/restarts never raise accuracy (paired)",
}


def _head(check: str) -> dict:
    return {"check": check, "title": CHECK_TITLES[check]}


def _linf(table: OutcomeTable, role: str | None = None, fixed: bool = False) -> list[AttackRecord]:
    """The table's L∞ attacks (of one role; on fixed points only: not the cascade's)."""
    return [
        r
        for r in table.attacks()
        if r.norm == "linf"
        and (role is None or r.role == role)
        and not (fixed and r.points == Points.CASCADE.value)
    ]


def _same_eps(a: AttackRecord, b: AttackRecord) -> bool:
    return round(a.eps, _EPS_DECIMALS) == round(b.eps, _EPS_DECIMALS)


class _Worst:
    """The most significant comparison of a check: smallest p, with its description and point count."""

    def __init__(self) -> None:
        self.p, self.desc, self.n, self.m = 1.0, "", 0, 0

    def add(self, p: float, desc: str, n: int) -> None:
        self.m += 1
        if not self.desc or p < self.p:
            self.p, self.desc, self.n = p, desc, n

    def result(self, res: dict, what: str) -> dict:
        """The check's verdict: fail iff the smallest p is below α/m."""
        level = MASKING_ALPHA / self.m
        passed = self.p >= level
        head = "worst case" if passed else "VIOLATION"
        return {
            **res,
            "passed": bool(passed),
            "p_value": self.p,
            "alpha": MASKING_ALPHA,
            "n_points": self.n,
            "detail": f"{self.m} {what}; {head}: {self.desc}; one-sided exact binomial p = {self.p:.3g} "
            f"vs α/m = {MASKING_ALPHA:g}/{self.m} = {level:.3g}",
        }


def _na(res: dict, why: str) -> dict:
    return {
        **res,
        "passed": None,
        "p_value": None,
        "alpha": MASKING_ALPHA,
        "n_points": 0,
        "detail": f"not applicable: {why}",
    }


def check_monotone_eps(table: OutcomeTable) -> dict:
    """Check 1: for a fixed attack, accuracy never rises as ε grows. For each attack and each pair ε < ε',
    on the points evaluated at both: 'rises' = correct at ε' but broken at ε, 'falls' = the reverse;
    fails when rises significantly outnumber falls."""
    res = _head("monotone_eps")
    worst = _Worst()
    recs = _linf(table)
    for name in dict.fromkeys(r.attack for r in recs):
        by_eps = sorted((r for r in recs if r.attack == name), key=lambda r: r.eps)
        for i, lo in enumerate(by_eps):
            for hi in by_eps[i + 1 :]:
                n, rises, falls = discordant(table.outcome(hi), table.outcome(lo))
                worst.add(
                    one_sided_p(rises, rises + falls),
                    f"{name} ε {lo.eps:g}→{hi.eps:g} on {n} shared points: {rises} correct only at "
                    f"the larger ε, {falls} only at the smaller",
                    n,
                )
    if not worst.m:
        return _na(res, "no L∞ attack was run at two or more ε")
    return worst.result(res, "(attack, ε < ε′) pairs compared")


def check_unbounded_zero(table: OutcomeTable) -> dict:
    """Check 2: at ε ≥ UNBOUNDED_EPS (L∞; inputs in [0,1], so any image is reachable) no point survives every
    attack run there. Not a statistical test: a single surviving point fails."""
    res = _head("unbounded_zero")
    big = [r for r in _linf(table) if r.eps >= UNBOUNDED_EPS - 1e-9]
    if not big:
        return _na(res, f"no L∞ attack was run at ε ≥ {UNBOUNDED_EPS:g}")
    measured = table.covered(big, every=False)
    survived = measured & ~table.broken(big)
    names = ", ".join(r.key for r in big)
    k, n = int(survived.sum()), int(measured.sum())
    return {
        **res,
        "passed": k == 0,
        "p_value": None,
        "alpha": None,
        "n_points": n,
        "detail": f"{k} of {n} points survive every attack at ε ≥ {UNBOUNDED_EPS:g} ({names})",
    }


def check_blackbox_not_stronger(table: OutcomeTable) -> dict:
    """Check 3: black-box Square is not significantly stronger than the best white-box attack, point by point.
    Per ε with a blackbox-role attack (on fixed points, not a cascade), on the points where the white-box side
    (gradient-only kinds of role baseline/strong; a point is broken if any of them broke it) is known: fails
    when points broken only by Square significantly outnumber points broken only by white-box attacks."""
    res = _head("blackbox_not_stronger")
    worst = _Worst()
    wb_all = [r for r in _linf(table) if r.kind in WHITEBOX_KINDS and r.role in WHITEBOX_ROLES]
    for s in _linf(table, Role.BLACKBOX.value, fixed=True):
        wb = [r for r in wb_all if _same_eps(r, s)]
        if not wb:
            continue
        # The white-box side per point: broken if any of them broke it, known where all of them ran.
        white = table.worst_over(wb, table.covered(wb, every=True), broken_counts=True)
        n, only_wb, only_sq = discordant(table.outcome(s), white)
        worst.add(
            one_sided_p(only_sq, only_sq + only_wb),
            f"ε {s.eps:g} on {n} shared points: {only_sq} broken only by {s.attack}, "
            f"{only_wb} only by white-box ({', '.join(r.attack for r in wb)})",
            n,
        )
    if not worst.m:
        return _na(res, "no blackbox-role attack ran at an ε where a white-box attack also ran")
    return worst.result(res, "ε compared")


def _varied(base: AttackRecord, strong: AttackRecord) -> str:
    """Which of steps / restarts the strong attack raises over the baseline (from the records' params)."""
    pb, ps = base.params, strong.params
    if not pb or not ps:
        return "parameters not recorded"
    keys = [k for k in ("steps", "n_iter", "restarts", "n_restarts") if k in pb and k in ps]
    return ", ".join(f"{k} {pb[k]}→{ps[k]}" for k in keys)


def check_more_steps_no_gain(table: OutcomeTable) -> dict:
    """Check 4: a strong-role attack (more steps and restarts) never leaves more points correct than a
    baseline-role attack of the same kind at the same ε; fails when points only the baseline broke
    significantly outnumber points only the strong attack broke."""
    res = _head("more_steps_no_gain")
    worst = _Worst()
    base_all = _linf(table, Role.BASELINE.value, fixed=True)
    for s in _linf(table, Role.STRONG.value, fixed=True):
        for b in [r for r in base_all if r.kind == s.kind and _same_eps(r, s)]:
            n, rises, falls = discordant(table.outcome(s), table.outcome(b))
            worst.add(
                one_sided_p(rises, rises + falls),
                f"ε {s.eps:g}, {b.attack} vs {s.attack} ({_varied(b, s)}) on {n} "
                f"shared points: {rises} broken only by the baseline, {falls} only by the strong attack",
                n,
            )
    if not worst.m:
        return _na(
            res, "no strong-role attack ran beside a baseline-role attack of the same kind at a common ε"
        )
    return worst.result(res, "(baseline, strong) pairs compared")


def _at_chance(table: OutcomeTable, n_classes: int | None) -> str | None:
    """Why the checks do not apply when clean accuracy is not significantly above chance (1/C), else None.
    Such a model is broken, not masking: attacks have nothing to break."""
    clean = next((r for r in table.records if r.attack == "clean"), None)
    if n_classes is None or clean is None:
        return None
    from scipy.stats import binomtest

    acc, n = float(clean.accuracy), int(clean.n)
    k = int(clean.n_correct) if pd.notna(clean.n_correct) else round(acc * n)
    p = binomtest(k, n, 1.0 / n_classes, alternative="greater").pvalue if n else 1.0
    if p >= MASKING_ALPHA:
        return (
            f"clean accuracy {acc:.3f} ({k}/{n}) is not significantly above chance 1/{n_classes} "
            f"(p = {p:.3g}); a model at chance is broken, not masking"
        )
    return None


def masking_checks(
    records: pd.DataFrame, correct: Mapping[str, np.ndarray] | None, n_classes: int | None = None
) -> list[dict]:
    """The four gradient-masking checks of one model, from a table of its records (as files give them
    back; `OutcomeTable.from_frame` reads it) and its per-point results (correct.npz). The evaluate job,
    which holds the typed outcome table, calls `table_masking_checks`.

    Each result: {check, title, passed (True/False/None = not applicable), detail, p_value, alpha, n_points}.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in records.columns]
    if missing:
        raise ValueError(f"masking_checks: records lack column(s) {missing}")
    table = OutcomeTable.from_frame(records, {} if correct is None else correct)
    return table_masking_checks(table, n_classes, outcomes=correct is not None)


def table_masking_checks(
    table: OutcomeTable, n_classes: int | None = None, *, outcomes: bool = True
) -> list[dict]:
    """The four gradient-masking checks of one model's outcome table (`masking_checks`'s results).
    ``outcomes`` False: the per-point results are missing, and no check applies."""
    keys = [(r.attack, round(r.eps, _EPS_DECIMALS)) for r in table.records]
    dup = next((k for i, k in enumerate(keys) if k in keys[:i]), None)
    if dup is not None:
        raise ValueError(
            f"masking_checks: duplicate record for {dup[0]!r} at ε={dup[1]:g} (records of one model expected)"
        )
    checks = (check_monotone_eps, check_unbounded_zero, check_blackbox_not_stronger, check_more_steps_no_gain)
    chance = _at_chance(table, n_classes)
    if chance is not None or not outcomes:
        why = chance or "per-point results (correct.npz) are missing"
        return [_na(_head(c), why) for c in CHECK_TITLES]
    return [check(table) for check in checks]
