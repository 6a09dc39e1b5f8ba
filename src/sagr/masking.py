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

from .attack_kinds import ATTACK_REGISTRY, GRADIENT_KINDS, Role, correct_key

#: Family-wise significance level of each check (one-sided exact binomial tests, Bonferroni within a check).
MASKING_ALPHA: float = 0.05
UNBOUNDED_EPS: float = 1.0  # check 2: L∞ budgets >= this are "unbounded" on [0,1] inputs
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


def _with_roles(records: pd.DataFrame) -> pd.DataFrame:
    """The L∞ attack rows with a rounded ε column and a role (declared, or the kind's default for old files)."""
    df = records[records["norm"] == "linf"].copy()
    df["eps_r"] = df["eps"].astype(float).round(_EPS_DECIMALS)
    default = df["kind"].map(lambda k: ATTACK_REGISTRY[k].default_role.value if k in ATTACK_REGISTRY else "")
    df["role"] = df["role"].fillna(default) if "role" in df else default
    return df


def _discordant(a: np.ndarray, b: np.ndarray) -> tuple[int, int, int]:
    """Points both arrays evaluated, and the discordant pairs there: (n, correct only in a, correct only in b)."""
    shared = (a != -1) & (b != -1)
    return (
        int(shared.sum()),
        int((shared & (a == 1) & (b == 0)).sum()),
        int((shared & (a == 0) & (b == 1)).sum()),
    )


def _arr(correct: Mapping[str, np.ndarray], attack: str, eps: float) -> np.ndarray:
    """Per-point results of one (attack, ε): 1 correct, 0 broken, -1 not evaluated."""
    return np.asarray(correct[correct_key(attack, eps)])


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


def check_monotone_eps(df: pd.DataFrame, correct: Mapping[str, np.ndarray]) -> dict:
    """Check 1: for a fixed attack, accuracy never rises as ε grows. For each attack and each pair ε < ε',
    on the points evaluated at both: 'rises' = correct at ε' but broken at ε, 'falls' = the reverse;
    fails when rises significantly outnumber falls."""
    res = {"check": "monotone_eps", "title": "Accuracy never rises as ε grows (fixed attack, paired)"}
    worst = _Worst()
    for name, g in df.groupby("attack", sort=False):
        eps = sorted(set(g["eps"].astype(float)))
        for i, lo in enumerate(eps):
            for hi in eps[i + 1 :]:
                n, rises, falls = _discordant(_arr(correct, name, hi), _arr(correct, name, lo))
                worst.add(
                    one_sided_p(rises, rises + falls),
                    f"{name} ε {lo:g}→{hi:g} on {n} shared points: {rises} correct only at "
                    f"the larger ε, {falls} only at the smaller",
                    n,
                )
    if not worst.m:
        return _na(res, "no L∞ attack was run at two or more ε")
    return worst.result(res, "(attack, ε < ε′) pairs compared")


def check_unbounded_zero(df: pd.DataFrame, correct: Mapping[str, np.ndarray]) -> dict:
    """Check 2: at ε ≥ UNBOUNDED_EPS (L∞; inputs in [0,1], so any image is reachable) no point survives every
    attack run there. Not a statistical test: a single surviving point fails."""
    res = {"check": "unbounded_zero", "title": "Unbounded (ε = 1, L∞) attacks reach 0% accuracy"}
    big = df[df["eps"].astype(float) >= UNBOUNDED_EPS - 1e-9]
    if big.empty:
        return _na(res, f"no L∞ attack was run at ε ≥ {UNBOUNDED_EPS:g}")
    arrs = [_arr(correct, a, e) for a, e in zip(big["attack"], big["eps"])]
    measured = np.stack([a != -1 for a in arrs]).any(axis=0)
    survived = measured & ~np.stack([a == 0 for a in arrs]).any(axis=0)
    names = ", ".join(f"{a}@{e:g}" for a, e in zip(big["attack"], big["eps"]))
    k, n = int(survived.sum()), int(measured.sum())
    return {
        **res,
        "passed": k == 0,
        "p_value": None,
        "alpha": None,
        "n_points": n,
        "detail": f"{k} of {n} points survive every attack at ε ≥ {UNBOUNDED_EPS:g} ({names})",
    }


def check_blackbox_not_stronger(df: pd.DataFrame, correct: Mapping[str, np.ndarray]) -> dict:
    """Check 3: black-box Square is not significantly stronger than the best white-box attack, point by point.
    Per ε with a blackbox-role attack (on fixed points, not a cascade), on the points where the white-box side
    (gradient-only kinds of role baseline/strong; a point is broken if any of them broke it) is known: fails
    when points broken only by Square significantly outnumber points broken only by white-box attacks."""
    res = {
        "check": "blackbox_not_stronger",
        "title": "Black-box Square is not stronger than white-box attacks (paired)",
    }
    worst = _Worst()
    bb = df[(df["role"] == Role.BLACKBOX.value) & (df["points"] != "cascade")]
    wb_all = df[df["kind"].isin(WHITEBOX_KINDS) & df["role"].isin(WHITEBOX_ROLES)]
    for _, s in bb.iterrows():
        wb = wb_all[wb_all["eps_r"] == s["eps_r"]]
        if wb.empty:
            continue
        sq = _arr(correct, s["attack"], s["eps"])
        w = [_arr(correct, a, e) for a, e in zip(wb["attack"], wb["eps"])]
        wb_broken = np.stack([a == 0 for a in w]).any(axis=0)
        wb_known = wb_broken | np.stack([a != -1 for a in w]).all(axis=0)
        shared = (sq != -1) & wb_known
        only_sq = int((shared & (sq == 0) & ~wb_broken).sum())
        only_wb = int((shared & (sq == 1) & wb_broken).sum())
        worst.add(
            one_sided_p(only_sq, only_sq + only_wb),
            f"ε {s['eps']:g} on {int(shared.sum())} shared points: {only_sq} broken only by {s['attack']}, "
            f"{only_wb} only by white-box ({', '.join(wb['attack'])})",
            int(shared.sum()),
        )
    if not worst.m:
        return _na(res, "no blackbox-role attack ran at an ε where a white-box attack also ran")
    return worst.result(res, "ε compared")


def _varied(base: pd.Series, strong: pd.Series) -> str:
    """Which of steps / restarts the strong attack raises over the baseline (from the records' params)."""
    pb, ps = base.get("params"), strong.get("params")
    if not isinstance(pb, dict) or not isinstance(ps, dict):
        return "parameters not recorded"
    parts = []
    for key in ("steps", "n_iter", "restarts", "n_restarts"):
        if key in pb and key in ps:
            parts.append(f"{key} {pb[key]}→{ps[key]}")
    return ", ".join(parts)


def check_more_steps_no_gain(df: pd.DataFrame, correct: Mapping[str, np.ndarray]) -> dict:
    """Check 4: a strong-role attack (more steps and restarts) never leaves more points correct than a
    baseline-role attack of the same kind at the same ε; fails when points only the baseline broke
    significantly outnumber points only the strong attack broke."""
    res = {"check": "more_steps_no_gain", "title": "More steps/restarts never raise accuracy (paired)"}
    worst = _Worst()
    strong = df[(df["role"] == Role.STRONG.value) & (df["points"] != "cascade")]
    base_all = df[(df["role"] == Role.BASELINE.value) & (df["points"] != "cascade")]
    for _, s in strong.iterrows():
        for _, b in base_all[(base_all["kind"] == s["kind"]) & (base_all["eps_r"] == s["eps_r"])].iterrows():
            n, rises, falls = _discordant(
                _arr(correct, s["attack"], s["eps"]), _arr(correct, b["attack"], b["eps"])
            )
            worst.add(
                one_sided_p(rises, rises + falls),
                f"ε {s['eps']:g}, {b['attack']} vs {s['attack']} ({_varied(b, s)}) on {n} "
                f"shared points: {rises} broken only by the baseline, {falls} only by the strong attack",
                n,
            )
    if not worst.m:
        return _na(
            res, "no strong-role attack ran beside a baseline-role attack of the same kind at a common ε"
        )
    return worst.result(res, "(baseline, strong) pairs compared")


def _at_chance(records: pd.DataFrame, n_classes: int | None) -> str | None:
    """Why the checks do not apply when clean accuracy is not significantly above chance (1/C), else None.
    Such a model is broken, not masking: attacks have nothing to break."""
    clean = records[records["attack"] == "clean"]
    if n_classes is None or clean.empty:
        return None
    from scipy.stats import binomtest

    row = clean.iloc[0]
    acc, n = float(row["accuracy"]), int(row["n"])
    k = int(row["n_correct"]) if "n_correct" in row and pd.notna(row["n_correct"]) else round(acc * n)
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
    """The four gradient-masking checks of one model, from its records and per-point results (correct.npz).

    Each result: {check, title, passed (True/False/None = not applicable), detail, p_value, alpha, n_points}.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in records.columns]
    if missing:
        raise ValueError(f"masking_checks: records lack column(s) {missing}")
    keys = records[["attack", "eps"]].assign(eps=records["eps"].astype(float).round(_EPS_DECIMALS))
    if keys.duplicated().any():
        dup = keys[keys.duplicated()].iloc[0]
        raise ValueError(
            f"masking_checks: duplicate record for {dup['attack']!r} at ε={dup['eps']:g} "
            "(records of one model expected)"
        )
    checks = (check_monotone_eps, check_unbounded_zero, check_blackbox_not_stronger, check_more_steps_no_gain)
    chance = _at_chance(records, n_classes)
    df = _with_roles(records)
    if "points" not in df:
        df["points"] = "all"
    out = []
    for check in checks:
        if chance is not None or correct is None:
            res = check(df.iloc[0:0], {})  # the check's id and title
            out.append(
                _na(
                    {"check": res["check"], "title": res["title"]},
                    chance or "per-point results (correct.npz) are missing",
                )
            )
        else:
            out.append(check(df, correct))
    return out
