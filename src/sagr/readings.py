"""SAGR's readings: does any reasonable reading of an under-specified method reverse C2, C3 or C4?

The paper fixes neither the form of the penalty (decoupled or coupled), nor the bias β, nor the
temperature T; METHOD.md picks one reading (decoupled, β = 0.5, T = 1). Each other reading the config
runs (a SAGR sweep point that differs from the configured method in `form`, `beta` or `T`, one factor
at a time) is held to the same three claims, at matched clean accuracy where the claim compares with
another method:

- C2 (more robust than JR): the reading − JR's λ curve read at the reading's clean accuracy, seed by
  seed (`sagr.tradeoff.on_curve`), worst case at every ε of the common suite;
- C3 (sharper maps than JR): the same, on Gini;
- C4 (β > 0 helps): the reading − the same reading at β = 0. In the decoupled form β = 0 is JR at the
  same λ whatever T (METHOD.md), so the decoupled β = 0 sweep point is the reference; in the coupled
  form β = 0 is IGR, so a coupled reading is held against IGR's λ curve at its clean accuracy.

Verdicts are `sagr.claims`'s, with its Bonferroni level and equivalence margins.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pandas as pd

from sagr import claims as C
from sagr import tradeoff
from sagr.labels import method_label
from sagr.results import Results
from sagr.summaries import _main_runs, common_suites, components
from sagr.sweeps import sweep_runs

#: The hyper-parameters whose values are the method's readings (one factor at a time).
READING_PARAMS = ("form", "beta", "T")
METHOD, BASELINE, COUPLED_BASELINE = "sagr", "jr", "igr"
CONFIGURED = "configured"


def _readings(res: Results, dataset: str) -> list[tuple[str, object, str, dict[int, str]]]:
    """(param, value, label, seed → run) of every reading: the configured method first, then each
    sweep point of a reading parameter (its configured value excluded: that is the configured one)."""
    main = _main_runs(res, dataset, METHOD)
    out = []
    if main:
        run = next(iter(main.values()))
        form, beta, t = (_hp(res, dataset, run, k) for k in ("form", "beta", "T"))
        out.append((CONFIGURED, "", f"configured ({form}, β = {_num(beta)}, T = {_num(t)})", main))
    main_names = set(main.values())
    for param in READING_PARAMS:
        for value, runs in sweep_runs(res, dataset, param, method=METHOD).items():
            if set(runs.values()) & main_names:
                continue
            symbol = {"beta": "β", "T": "T", "form": "form"}[param]
            out.append((param, value, f"{symbol} = {_num(value)}", runs))
    return out


def _num(v: object) -> str:
    try:
        return f"{float(v):g}"
    except (TypeError, ValueError):
        return str(v)


def _hp(res: Results, dataset: str, run: str, name: str) -> object:
    """A run's training hyper-parameter (None where it has none)."""
    r = res.ok_runs()
    r = r[(r["dataset"] == dataset) & (r["run"] == run)]
    col = f"hp_{name}"
    return r[col].iloc[0] if col in r and len(r) else None


def _suites(res: Results, dataset: str, sides: list) -> list[tuple[float, list[str]]]:
    runs = [r for side in sides for r, _ in components(side)]
    return sorted(common_suites(res, dataset, runs).items())


def _against_curve(
    res: Results, dataset: str, targets: dict[int, str], curve: str, kind: str, head: str
) -> list[C.Comparison] | None:
    at = tradeoff.on_curve(res, dataset, curve, targets)
    if at is None or at.missing:
        return None
    label = f"{head} − {method_label(curve)} curve (at clean {100 * at.clean:.1f} %)"
    if kind == "saliency":
        return [C.Comparison(f"{label}, Gini", "saliency", at.targets, at.blends)]
    return [
        C.Comparison(f"{label}, worst case ε={e:g}", "accuracy", at.targets, at.blends, eps=e, suite=tuple(s))
        for e, s in _suites(res, dataset, list(at.targets) + list(at.blends))
    ] or None


def _against_beta_zero(
    res: Results, dataset: str, targets: dict[int, str], head: str
) -> list[C.Comparison] | None:
    zero = next(
        (runs for v, runs in sweep_runs(res, dataset, "beta", method=METHOD).items() if float(v) == 0), None
    )
    seeds = sorted(set(zero or {}) & set(targets))
    if not seeds:
        return None
    a, b = tuple(targets[s] for s in seeds), tuple(zero[s] for s in seeds)
    out = [
        C.Comparison(f"{head} − β=0, worst case ε={e:g}", "accuracy", a, b, eps=e, suite=tuple(s))
        for e, s in _suites(res, dataset, [*a, *b])
    ]
    return out + [C.Comparison(f"{head} − β=0, Gini", "saliency", a, b)]


def _claims_of(targets: dict[int, str], head: str) -> list[C.Claim]:
    def c2(kind: str) -> Callable[[Results, str], list[C.Comparison] | None]:
        return lambda res, dataset: _against_curve(res, dataset, targets, BASELINE, kind, head)

    def c4(res: Results, dataset: str) -> list[C.Comparison] | None:
        run = next(iter(targets.values()))
        beta = _hp(res, dataset, run, "beta")
        if beta is None or pd.isna(beta) or float(beta) == 0:
            return None  # β = 0 is the reference, not a reading of C4
        if _hp(res, dataset, run, "form") == "coupled":
            acc = _against_curve(res, dataset, targets, COUPLED_BASELINE, "accuracy", head) or []
            sal = _against_curve(res, dataset, targets, COUPLED_BASELINE, "saliency", head) or []
            return (acc + sal) or None
        return _against_beta_zero(res, dataset, targets, head)

    by_id = {c.id: c for c in C.CLAIMS}
    return [
        C.Claim(
            "C2",
            by_id["C2"].statement,
            "worst case at each ε against JR's curve at matched clean",
            c2("accuracy"),
        ),
        C.Claim("C3", by_id["C3"].statement, "Gini against JR's curve at matched clean", c2("saliency")),
        C.Claim("C4", by_id["C4"].statement, "each ε and Gini against β = 0 (coupled: IGR's curve)", c4),
    ]


def evaluate(res: Results, margins: Mapping[str, float] | None = None) -> pd.DataFrame:
    """`sagr.claims.evaluate`'s rows for C2, C3 and C4 per reading, with columns reading (its label),
    param and value added; empty without SAGR runs."""
    frames = []
    for dataset in res.datasets():
        for param, value, label, targets in _readings(res, dataset):
            head = f"SAGR {label}" if param != CONFIGURED else "SAGR"
            df = C.evaluate(res, _claims_of(targets, head), margins, datasets=[dataset])
            frames.append(df.assign(reading=label, param=param, value=_num(value)))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
