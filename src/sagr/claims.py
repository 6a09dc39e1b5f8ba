"""The paper's testable claims, each a falsifiable statement with the metric that decides it.

A claim is a set of paired comparisons A − B (same seeds, same points; `sagr.summaries`), each
with the sign the claim predicts. Its verdict per dataset, computed from the result files:

- *contradicted*: some comparison's interval lies entirely on the wrong side of 0;
- *supported*: every comparison's interval (and every premise's) lies on the predicted side;
- *inconclusive at this scale*: neither (an interval contains 0);
- *not tested*: the runs a comparison needs are missing.

The intervals of one claim are Bonferroni-adjusted (level 1 − 0.05/k for its k comparisons), so
each verdict holds at a family-wise 5 % error rate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sagr import stats
from sagr.labels import WORST, method_label
from sagr.results import Results
from sagr.summaries import _main_runs, ablation_suite, compare_runs, compare_saliency, sweep_runs

SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_TESTED = (
    "supported",
    "contradicted",
    "inconclusive at this scale",
    "not tested",
)
ALPHA = 0.05
SHARPNESS = "gini"  # the saliency metric that decides "sharper" (higher Gini = sharper map)


@dataclass(frozen=True)
class Comparison:
    """One paired comparison of a claim: what is compared and the sign the claim predicts."""

    label: str  # e.g. "SAGR − JR, worst case ε=0.1" (display only)
    kind: str  # "accuracy" | "saliency"
    runs_a: tuple[str, ...]
    runs_b: tuple[str, ...]
    eps: float = float("nan")
    suite: tuple[str, ...] | None = None  # the ablation's common suite, None = run's own
    sign: int = +1  # the claim predicts sign(A − B) = sign
    premise: bool = False  # must hold for the claim to be testable, not the claim itself


@dataclass(frozen=True)
class Claim:
    """A claim of the paper: id, statement, deciding metric, and its comparisons per dataset."""

    id: str
    statement: str
    decided_by: str
    comparisons: Callable[[Results, str], list[Comparison] | None]


def _worst_eps(res: Results, dataset: str) -> list[float]:
    wc = res.worst_case
    if wc.empty:
        return []
    m = (wc["dataset"] == dataset) & (wc["norm"] == "linf") & (wc["eps"] < 1)
    return sorted(wc.loc[m, "eps"].unique())


def _paired_runs(res: Results, dataset: str, a: str, b: str) -> tuple[tuple, tuple] | None:
    ra, rb = _main_runs(res, dataset, a), _main_runs(res, dataset, b)
    seeds = sorted(set(ra) & set(rb))
    if not seeds:
        return None
    return tuple(ra[s] for s in seeds), tuple(rb[s] for s in seeds)


def _robust_at_each_eps(
    a: str, b: str, largest_only: bool = False, premise: bool = False
) -> Callable[[Results, str], list[Comparison] | None]:
    def build(res: Results, dataset: str) -> list[Comparison] | None:
        runs, eps = _paired_runs(res, dataset, a, b), _worst_eps(res, dataset)
        if runs is None or not eps:
            return None
        eps = eps[-1:] if largest_only else eps
        la, lb = method_label(a), method_label(b)
        return [
            Comparison(f"{la} − {lb}, worst case ε={e:g}", "accuracy", *runs, eps=e, premise=premise)
            for e in eps
        ]

    return build


def _sharper(pairs: list[tuple[str, str]]) -> Callable[[Results, str], list[Comparison] | None]:
    def build(res: Results, dataset: str) -> list[Comparison] | None:
        out = []
        for a, b in pairs:
            runs = _paired_runs(res, dataset, a, b)
            if runs is None:
                return None
            out.append(Comparison(f"{method_label(a)} − {method_label(b)}, Gini", "saliency", *runs))
        return out

    return build


def _beta_positive(res: Results, dataset: str) -> list[Comparison] | None:
    """Every β > 0 of the β sweep against β = 0, same seeds, the sweep's common suite."""
    points = sweep_runs(res, dataset, "beta")
    zero = next((v for v in points if float(v) == 0.0), None)
    if zero is None or len(points) < 2:
        return None
    all_runs = [r for by_seed in points.values() for r in by_seed.values()]
    eps, suite = ablation_suite(res, dataset, all_runs)
    out = []
    for value in sorted(v for v in points if float(v) > 0):
        seeds = sorted(set(points[value]) & set(points[zero]))
        if not seeds:
            continue
        ra = tuple(points[value][s] for s in seeds)
        rb = tuple(points[zero][s] for s in seeds)
        if eps is not None:
            out.append(
                Comparison(
                    f"β={value:g} − β=0, worst case ε={eps:g}",
                    "accuracy",
                    ra,
                    rb,
                    eps=eps,
                    suite=tuple(suite),
                )
            )
        out.append(Comparison(f"β={value:g} − β=0, Gini", "saliency", ra, rb))
    return out or None


def _narrows_gap(res: Results, dataset: str) -> list[Comparison] | None:
    gap = _robust_at_each_eps("pgd_at", "jr", largest_only=True, premise=True)(res, dataset)
    closes = _robust_at_each_eps("sagr", "jr", largest_only=True)(res, dataset)
    return None if gap is None or closes is None else gap + closes


CLAIMS = [
    Claim(
        "C1",
        "Jacobian-regularised models (JR, IGR) have less sharp saliency maps than PGD-AT models.",
        "Gini of |∇ₓ z_y| (higher is sharper): PGD-AT − JR > 0 and PGD-AT − IGR > 0",
        _sharper([("pgd_at", "jr"), ("pgd_at", "igr")]),
    ),
    Claim(
        "C2",
        "SAGR is more robust than JR at every ε.",
        "worst-case accuracy at each ε: SAGR − JR > 0",
        _robust_at_each_eps("sagr", "jr"),
    ),
    Claim(
        "C3",
        "SAGR's saliency maps are sharper than JR's.",
        "Gini: SAGR − JR > 0",
        _sharper([("sagr", "jr")]),
    ),
    Claim(
        "C4",
        "β > 0 gives more robustness and sharper maps than β = 0.",
        "β sweep, same suite and points: worst case at the largest ε and Gini, each β > 0 minus β = 0, > 0",
        _beta_positive,
    ),
    Claim(
        "C5",
        "SAGR narrows the gap to PGD-AT.",
        "worst case at the largest ε: given a gap (PGD-AT − JR > 0, premise), SAGR − JR > 0",
        _narrows_gap,
    ),
    Claim(
        "C6",
        "Jacobian regularisation trails PGD-based adversarial training in robustness "
        "(the gap the paper sets out to close).",
        "worst-case accuracy at each ε: PGD-AT − JR > 0",
        _robust_at_each_eps("pgd_at", "jr"),
    ),
]


def _difference(res: Results, dataset: str, c: Comparison, level: float) -> stats.Difference | None:
    if c.kind == "accuracy":
        return compare_runs(
            res, dataset, c.runs_a, c.runs_b, WORST, "linf", c.eps, suite=c.suite, level=level
        )
    return compare_saliency(res, dataset, c.runs_a, c.runs_b, SHARPNESS, level=level)


def verdict(outcomes: list[tuple[Comparison, stats.Difference | None]]) -> str:
    """The claim's verdict from its comparisons' intervals (see the module docstring)."""
    if not outcomes or any(d is None or np.isnan(d.estimate) for _, d in outcomes):
        return NOT_TESTED
    if any(d.significant * c.sign < 0 for c, d in outcomes if not c.premise):
        return CONTRADICTED
    if all(d.significant * c.sign > 0 for c, d in outcomes):
        return SUPPORTED
    return INCONCLUSIVE


def evaluate(res: Results, claims: list[Claim] = CLAIMS) -> pd.DataFrame:
    """One row per claim × dataset × comparison, with the claim's verdict on that dataset.

    Columns: claim, statement, decided_by, dataset, verdict, comparison, kind, premise, estimate,
    low, high, level, n, seeds.
    """
    rows = []
    for claim in claims:
        for dataset in res.datasets():
            comps = claim.comparisons(res, dataset) or []
            level = 1 - ALPHA / max(len(comps), 1)
            outcomes = [(c, _difference(res, dataset, c, level)) for c in comps]
            v = verdict(outcomes)
            base = dict(
                claim=claim.id,
                statement=claim.statement,
                decided_by=claim.decided_by,
                dataset=dataset,
                verdict=v,
            )
            if not outcomes:
                rows.append(
                    dict(
                        base,
                        comparison="",
                        kind="",
                        premise=False,
                        estimate=np.nan,
                        low=np.nan,
                        high=np.nan,
                        level=np.nan,
                        n=0,
                        seeds=0,
                    )
                )
            for c, d in outcomes:
                rows.append(
                    dict(
                        base,
                        comparison=c.label,
                        kind=c.kind,
                        premise=c.premise,
                        estimate=d.estimate if d else np.nan,
                        low=d.low if d else np.nan,
                        high=d.high if d else np.nan,
                        level=level,
                        n=d.n if d else 0,
                        seeds=d.seeds if d else 0,
                    )
                )
    return pd.DataFrame(rows)
