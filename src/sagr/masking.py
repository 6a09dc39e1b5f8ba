"""Gradient-masking checks of METHOD.md, computed from the saved attack records of one model."""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import pandas as pd

# Tolerances. Accuracies are proportions over n points, so every comparison allows for the
# sampling noise of randomised attacks: tol = max(k · standard error, 1/n) (at least one point).
MONOTONE_SE_MULT: float = 1.0      # check 1: a rise > max(1 SE, 1/n) fails
UNBOUNDED_EPS: float = 1.0         # check 2: L∞ budgets >= this are "unbounded" on [0,1] inputs
UNBOUNDED_MAX_ACC: float = 0.0     # check 2: any point still correct fails (no tolerance)
BLACKBOX_SE_MULT: float = 2.0      # check 3: Square below white-box by > max(2 SE of a difference, 1/n) fails
STEPS_SE_MULT: float = 1.0         # check 4: pgd_strong above pgd by > max(1 SE, 1/n) fails

# Check 3 compares Square with gradient-only attacks. AutoAttack is left out on purpose: it contains
# Square itself, so it is never much weaker than Square and would hide exactly the masking this detects.
WHITEBOX_KINDS: tuple[str, ...] = ("pgd", "cw_inf")
BLACKBOX_KIND: str = "square"
PGD_BASE: str = "pgd"              # check 4 compares these two attacks by name
PGD_STRONG: str = "pgd_strong"

_EPS_DECIMALS = 10  # ε values are matched after rounding (float round-trips through CSV/JSON)
REQUIRED_COLUMNS = ("attack", "kind", "norm", "eps", "accuracy", "n")


def _se(p: float, n: int) -> float:
    """Standard error of a proportion p over n points."""
    p = min(max(p, 0.0), 1.0)
    return math.sqrt(p * (1 - p) / n) if n > 0 else float("inf")


def _tol(p: float, n: int, mult: float) -> float:
    """Noise tolerance for comparing two accuracies near p on n points: max(mult · SE, 1/n)."""
    return max(mult * _se(p, n), 1.0 / n) if n > 0 else float("inf")


def _linf(records: pd.DataFrame) -> pd.DataFrame:
    """The L∞ attack rows (clean and L2 rows dropped), with a rounded ε column for matching."""
    df = records[records["norm"] == "linf"].copy()
    df["eps_r"] = df["eps"].astype(float).round(_EPS_DECIMALS)
    return df


def check_monotone_eps(records: pd.DataFrame) -> dict:
    """Check 1: for each L∞ attack run at ≥2 ε, accuracy never rises as ε grows.

    Each accuracy is compared with the lowest accuracy at any smaller ε of the same attack; a rise
    fails when it exceeds max(MONOTONE_SE_MULT · sqrt(p̄(1−p̄)/n), 1/n), p̄ the mean of the two
    accuracies and n the smaller of their point counts.
    """
    res = {"check": "monotone_eps", "title": "Accuracy never rises as ε grows (fixed attack)"}
    df = _linf(records)
    worst: tuple[float, str] | None = None  # (rise − tol, description)
    checked = []
    for name, g in df.groupby("attack", sort=False):
        g = g.sort_values("eps_r")
        if g["eps_r"].nunique() < 2:
            continue
        checked.append(str(name))
        best_acc, best_n, best_eps = None, None, None
        for eps, acc, n in zip(g["eps"], g["accuracy"], g["n"]):
            if best_acc is not None:
                rise = acc - best_acc
                tol = _tol((acc + best_acc) / 2, int(min(n, best_n)), MONOTONE_SE_MULT)
                desc = (f"{name}: ε {best_eps:g}→{eps:g} accuracy {best_acc:.3f}→{acc:.3f} "
                        f"(rise {rise:+.3f}, tolerance {tol:.3f})")
                if worst is None or rise - tol > worst[0]:
                    worst = (rise - tol, desc)
            if best_acc is None or acc < best_acc:
                best_acc, best_n, best_eps = float(acc), int(n), float(eps)
    if not checked:
        return {**res, "passed": None, "detail": "not applicable: no L∞ attack was run at two or more ε"}
    passed = worst[0] <= 0
    verdict = "worst case" if passed else "VIOLATION"
    return {**res, "passed": bool(passed),
            "detail": f"{len(checked)} attacks checked ({', '.join(checked)}); {verdict}: {worst[1]}"}


def check_unbounded_zero(records: pd.DataFrame) -> dict:
    """Check 2: at ε ≥ UNBOUNDED_EPS (L∞; inputs in [0,1], so any image is reachable) the strongest
    attack run there leaves accuracy at most UNBOUNDED_MAX_ACC = 0: a single correct point fails."""
    res = {"check": "unbounded_zero", "title": "Unbounded (ε = 1, L∞) attack reaches 0% accuracy"}
    df = _linf(records)
    df = df[df["eps"] >= UNBOUNDED_EPS - 1e-9]
    if df.empty:
        return {**res, "passed": None, "detail": f"not applicable: no L∞ attack was run at ε ≥ {UNBOUNDED_EPS:g}"}
    best = df.loc[df["accuracy"].idxmin()]
    parts = ", ".join(f"{a}@{e:g}: {acc:.3f} (n={int(n)})"
                      for a, e, acc, n in zip(df["attack"], df["eps"], df["accuracy"], df["n"]))
    passed = float(best["accuracy"]) <= UNBOUNDED_MAX_ACC
    n_left = round(float(best["accuracy"]) * int(best["n"]))
    return {**res, "passed": bool(passed),
            "detail": f"{parts}; best {best['attack']}: {n_left} of {int(best['n'])} points still correct"}


def check_blackbox_not_stronger(records: pd.DataFrame) -> dict:
    """Check 3: black-box Square is not clearly stronger than the best gradient attack (kinds in
    WHITEBOX_KINDS) at the same ε; "clearly" = lower by more than max(BLACKBOX_SE_MULT · SE of the
    difference of two proportions, 1/n), n the smaller point count."""
    res = {"check": "blackbox_not_stronger", "title": "Black-box Square is not clearly stronger than white-box attacks"}
    df = _linf(records)
    sq = df[df["kind"] == BLACKBOX_KIND]
    wb = df[df["kind"].isin(WHITEBOX_KINDS)]
    worst: tuple[float, str] | None = None
    for _, s in sq.iterrows():
        same = wb[wb["eps_r"] == s["eps_r"]]
        if same.empty:
            continue
        w = same.loc[same["accuracy"].idxmin()]
        ps, ns, pw, nw = float(s["accuracy"]), int(s["n"]), float(w["accuracy"]), int(w["n"])
        gap = pw - ps
        se = math.sqrt(ps * (1 - ps) / ns + pw * (1 - pw) / nw) if ns and nw else float("inf")
        tol = max(BLACKBOX_SE_MULT * se, 1.0 / min(ns, nw))
        desc = (f"ε {s['eps']:g}: {s['attack']} {ps:.3f} (n={ns}) vs best white-box {w['attack']} {pw:.3f} "
                f"(n={nw}); Square lower by {gap:+.3f}, tolerance {tol:.3f}")
        if worst is None or gap - tol > worst[0]:
            worst = (gap - tol, desc)
    if worst is None:
        return {**res, "passed": None,
                "detail": f"not applicable: no Square run at an ε where a {'/'.join(WHITEBOX_KINDS)} attack also ran"}
    passed = worst[0] <= 0
    return {**res, "passed": bool(passed), "detail": ("worst case: " if passed else "VIOLATION: ") + worst[1]}


def check_more_steps_no_gain(records: pd.DataFrame) -> dict:
    """Check 4: PGD_STRONG (more steps/restarts) never gives higher accuracy than PGD_BASE at the same ε;
    a rise fails when above max(STEPS_SE_MULT · sqrt(p̄(1−p̄)/n), 1/n) as in check 1."""
    res = {"check": "more_steps_no_gain", "title": "More PGD steps/restarts never raise accuracy"}
    df = _linf(records)
    base = df[df["attack"] == PGD_BASE].set_index("eps_r")
    strong = df[df["attack"] == PGD_STRONG].set_index("eps_r")
    common = sorted(set(base.index) & set(strong.index))
    if not common:
        return {**res, "passed": None,
                "detail": f"not applicable: {PGD_BASE!r} and {PGD_STRONG!r} were not both run at a common ε"}
    worst: tuple[float, str] | None = None
    for e in common:
        b, s = base.loc[e], strong.loc[e]
        pb, ps = float(b["accuracy"]), float(s["accuracy"])
        tol = _tol((pb + ps) / 2, int(min(b["n"], s["n"])), STEPS_SE_MULT)
        desc = f"ε {e:g}: {PGD_BASE} {pb:.3f} vs {PGD_STRONG} {ps:.3f} (rise {ps - pb:+.3f}, tolerance {tol:.3f})"
        if worst is None or (ps - pb) - tol > worst[0]:
            worst = ((ps - pb) - tol, desc)
    passed = worst[0] <= 0
    return {**res, "passed": bool(passed), "detail": ("worst case: " if passed else "VIOLATION: ") + worst[1]}


def on_points_of(records: pd.DataFrame, correct: Mapping[str, np.ndarray], anchor: pd.Series) -> pd.DataFrame:
    """Records whose L∞ accuracies at the anchor's ε are recomputed on the points the anchor
    (a subset attack) evaluated, so that it is compared with the others on the same points."""
    from .attacks import correct_key

    out = records.copy()
    mask = np.asarray(correct[correct_key(anchor["attack"], float(anchor["eps"]))]) != -1
    same = (out["norm"] == "linf") & (out["eps"].astype(float).round(_EPS_DECIMALS) == round(float(anchor["eps"]), _EPS_DECIMALS))
    for i in out.index[same]:
        arr = np.asarray(correct[correct_key(out.at[i, "attack"], float(out.at[i, "eps"]))])
        shared = mask & (arr != -1)
        out.at[i, "n"] = int(shared.sum())
        out.at[i, "accuracy"] = float((arr[shared] == 1).mean()) if shared.any() else float("nan")
    return out


def _paired(records: pd.DataFrame, correct: Mapping[str, np.ndarray] | None, check, anchors: pd.DataFrame) -> dict:
    """Run a two-attack check on shared points, per anchor row; the worst (first failing) verdict wins."""
    if correct is None or anchors.empty:
        return check(records)
    results = [check(on_points_of(records, correct, a)) for _, a in anchors.iterrows()]
    failed = [r for r in results if r["passed"] is False]
    return failed[0] if failed else next((r for r in results if r["passed"]), results[0])


def masking_checks(records: pd.DataFrame, correct: Mapping[str, np.ndarray] | None = None) -> list[dict]:
    """Run the four gradient-masking checks on one model's records; passed=None where the needed attacks were not run.

    With the per-example ``correct`` arrays, checks 3 and 4 compare attacks on the points both
    evaluated (Square and pgd_strong may run on a prefix subset of the evaluation points).
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in records.columns]
    if missing:
        raise ValueError(f"masking_checks: records lack column(s) {missing}")
    keys = records[["attack", "eps"]].assign(eps=records["eps"].astype(float).round(_EPS_DECIMALS))
    if keys.duplicated().any():
        dup = keys[keys.duplicated()].iloc[0]
        raise ValueError(f"masking_checks: duplicate record for {dup['attack']!r} at ε={dup['eps']:g} "
                         "(records of one model expected)")
    return [check_monotone_eps(records), check_unbounded_zero(records),
            _paired(records, correct, check_blackbox_not_stronger, records[records["kind"] == BLACKBOX_KIND]),
            _paired(records, correct, check_more_steps_no_gain, records[records["attack"] == PGD_STRONG])]
