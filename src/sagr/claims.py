"""The paper's testable claims, each a falsifiable statement with the metric that decides it.

A claim is a set of paired comparisons A − B (same seeds, same points; `sagr.summaries`), each
with the sign the claim predicts. Its verdict per dataset, computed from the result files:

- *contradicted*: some comparison's interval lies entirely on the wrong side of 0;
- *supported*: every comparison's interval (and every premise's) lies on the predicted side;
- *equivalent*: no deciding comparison shows an effect as large as the claim's smallest effect of
  interest (two one-sided tests at the claim's level, `stats.equivalence_p`), where the config declares
  one (``claims.smallest_effect``, per metric);
- *inconclusive at this scale*: none of the above (an interval contains 0 and reaches past the
  smallest effect of interest);
- *uninformative (at the floor)*: every comparison that would decide sits at the floor;
- *not decidable (masking suspected)*: the verdict would rest on a model whose robustness may be
  masked (`Results.flagged_runs`: a failed model check or gradient-masking check). A masked model's
  robustness is overstated, so it can support no claim and show no equivalence, and a contradiction
  stands only if some contradicting comparison's predicted-better side is the flagged one or neither
  side is flagged;
- *not tested*: the runs a comparison needs are missing.

Comparisons that cannot show a difference do not decide: an accuracy comparison where both sides
are below `FLOOR` (both models broken almost everywhere) is *at the floor*; a comparison whose
premise (same `group`, e.g. the same ε) is not shown has *no premise*. Each comparison states what it
could see: its minimum detectable effect at the claim's level and `stats.POWER`, and the points or
seeds at which that would fall to its observed effect (`sagr.stats`).

The intervals of one claim are Bonferroni-adjusted (level 1 − 0.05/k for its k comparisons not at
the floor), so each verdict holds at a family-wise 5 % error rate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sagr import stats, tradeoff
from sagr.labels import WORST, method_label
from sagr.results import Results
from sagr.robustness.budgets import linf_budgets
from sagr.summaries import (
    Side,
    _main_runs,
    common_suites,
    compare_runs,
    compare_saliency,
    components,
)
from sagr.sweeps import sweep_runs

SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_TESTED = (
    "supported",
    "contradicted",
    "inconclusive at this scale",
    "not tested",
)
UNINFORMATIVE = "uninformative (at the floor)"
EQUIVALENT = "equivalent"  # no effect as large as the smallest effect of interest
NOT_DECIDABLE = "not decidable"  # masking suspected in a model it reads
#: Every verdict, in the order the report explains them.
VERDICTS = (SUPPORTED, CONTRADICTED, EQUIVALENT, INCONCLUSIVE, UNINFORMATIVE, NOT_DECIDABLE, NOT_TESTED)
ALPHA = 0.05
# Below 5 % worst-case accuracy a model is broken almost everywhere: two such models cannot differ by
# more than a few points, whatever their defences do, so their difference says nothing about a claim.
FLOOR = 0.05
# A comparison's role in its claim's verdict.
DECIDES, AT_FLOOR, NO_PREMISE = "decides", "at the floor", "premise not shown"
SHARPNESS = "gini"  # the saliency metric that decides "sharper" (higher Gini = sharper map)


@dataclass(frozen=True)
class Comparison:
    """One paired comparison of a claim: what is compared and the sign the claim predicts."""

    label: str  # e.g. "SAGR − JR, worst case ε=0.1" (display only)
    kind: str  # "accuracy" | "saliency"
    runs_a: tuple[Side, ...]  # per seed: a run, or a blend of runs (a point between two on a curve)
    runs_b: tuple[Side, ...]
    eps: float = float("nan")
    suite: tuple[str, ...] | None = None  # the ablation's common suite, None = run's own
    sign: int = +1  # the claim predicts sign(A − B) = sign
    premise: bool = False  # must hold for the claim to be testable, not the claim itself
    group: object = None  # a premise gates the comparisons of its own group (e.g. its ε) only


@dataclass(frozen=True)
class Claim:
    """A claim of the paper: id, statement, deciding metric, and its comparisons per dataset."""

    id: str
    statement: str
    decided_by: str
    comparisons: Callable[[Results, str], list[Comparison] | None]


def _worst_eps(res: Results, dataset: str) -> list[float]:
    """The L∞ budgets ``dataset``'s models have a worst case at (the per-point worst case itself
    is the outcome table's, through `compare_runs`)."""
    wc = res.worst_case
    if wc.empty:
        return []
    return sorted(linf_budgets(wc[wc["dataset"] == dataset])["eps"].unique())


def _paired_runs(res: Results, dataset: str, a: str, b: str) -> tuple[tuple, tuple] | None:
    ra, rb = _main_runs(res, dataset, a), _main_runs(res, dataset, b)
    seeds = sorted(set(ra) & set(rb))
    if not seeds:
        return None
    return tuple(ra[s] for s in seeds), tuple(rb[s] for s in seeds)


def _robust_at_each_eps(
    a: str, b: str, premise: bool = False
) -> Callable[[Results, str], list[Comparison] | None]:
    def build(res: Results, dataset: str) -> list[Comparison] | None:
        runs, eps = _paired_runs(res, dataset, a, b), _worst_eps(res, dataset)
        if runs is None or not eps:
            return None
        la, lb = method_label(a), method_label(b)
        return [
            Comparison(f"{la} − {lb}, worst case ε={e:g}", "accuracy", *runs, eps=e, premise=premise, group=e)
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
    """Every β > 0 of the β sweep against β = 0, same seeds: the worst case at every ε all the
    sweep's runs were attacked at (over the attacks all of them ran there), and Gini."""
    points = sweep_runs(res, dataset, "beta", method="sagr")
    zero = next((v for v in points if float(v) == 0.0), None)
    if zero is None or len(points) < 2:
        return None
    all_runs = [r for by_seed in points.values() for r in by_seed.values()]
    suites = common_suites(res, dataset, all_runs)
    out = []
    for value in sorted(v for v in points if float(v) > 0):
        seeds = sorted(set(points[value]) & set(points[zero]))
        if not seeds:
            continue
        ra = tuple(points[value][s] for s in seeds)
        rb = tuple(points[zero][s] for s in seeds)
        for eps, suite in sorted(suites.items()):
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
    """At every ε: the gap PGD-AT − JR (premise) and SAGR − JR; an ε without a gap does not decide."""
    gap = _robust_at_each_eps("pgd_at", "jr", premise=True)(res, dataset)
    closes = _robust_at_each_eps("sagr", "jr")(res, dataset)
    return None if gap is None or closes is None else gap + closes


def _matched_clean(kind: str) -> Callable[[Results, str], list[Comparison] | None]:
    """SAGR − JR along the λ curves: at each JR sweep point, SAGR's curve interpolated (seed by seed)
    at that JR model's clean accuracy (`sagr.tradeoff.on_curve`), paired by seed and point: the worst
    case at every ε over the sweep's common suite, or Gini. A JR point whose clean accuracy lies
    outside SAGR's curve at some seed is not compared (the curve is never extrapolated)."""

    def build(res: Results, dataset: str) -> list[Comparison] | None:
        out = []
        suites = sorted(tradeoff.lam_suites(res, dataset).items())
        for lam, targets in tradeoff.curve_targets(res, dataset, "jr").items():
            at = tradeoff.on_curve(res, dataset, "sagr", targets)
            if at is None or at.missing:
                continue
            head = (
                f"{method_label('sagr')} curve − {method_label('jr')} λ={lam:g} "
                f"(at its clean {100 * at.clean:.1f} %)"
            )
            if kind == "saliency":
                out.append(Comparison(f"{head}, Gini", "saliency", at.blends, at.targets))
                continue
            out += [
                Comparison(
                    f"{head}, worst case ε={e:g}",
                    "accuracy",
                    at.blends,
                    at.targets,
                    eps=e,
                    suite=tuple(suite),
                    group=e,
                )
                for e, suite in suites
            ]
        return out or None

    return build


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
        "C2m",
        "SAGR is more robust than JR at every ε, at matched clean accuracy.",
        "λ curves: at each JR point, SAGR's curve interpolated at its clean accuracy (per seed), same "
        "suite and points: worst case at each ε, SAGR − JR > 0",
        _matched_clean("accuracy"),
    ),
    Claim(
        "C3m",
        "SAGR's saliency maps are sharper than JR's, at matched clean accuracy.",
        "λ curves: at each JR point, SAGR's curve interpolated at its clean accuracy: Gini, SAGR − JR > 0",
        _matched_clean("saliency"),
    ),
    Claim(
        "C4",
        "β > 0 gives more robustness and sharper maps than β = 0.",
        "β sweep, same suite and points: worst case at every ε and Gini, each β > 0 minus β = 0, > 0",
        _beta_positive,
    ),
    Claim(
        "C5",
        "SAGR narrows the gap to PGD-AT.",
        "worst case at every ε where a gap shows (PGD-AT − JR > 0, premise): SAGR − JR > 0",
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


def roles(outcomes: list[tuple[Comparison, stats.Difference | None]]) -> list[str]:
    """Each comparison's role: `DECIDES`, `AT_FLOOR` (accuracy, both sides below `FLOOR`) or
    `NO_PREMISE` (a premise of its group is at the floor or not shown on its predicted side)."""
    out = [AT_FLOOR if at_floor(c, d) else DECIDES for c, d in outcomes]
    unmet = {
        c.group
        for (c, d), role in zip(outcomes, out, strict=True)
        if c.premise and (role == AT_FLOOR or d is None or d.significant * c.sign <= 0)
    }
    return [
        NO_PREMISE if role == DECIDES and c.group in unmet and not c.premise else role
        for (c, _), role in zip(outcomes, out, strict=True)
    ]


def at_floor(c: Comparison, d: stats.Difference | None) -> bool:
    """Both sides of an accuracy comparison below `FLOOR` on the compared points."""
    return c.kind == "accuracy" and d is not None and d.mean_a < FLOOR and d.mean_b < FLOOR


def equivalent(c: Comparison, d: stats.Difference | None, margins: Mapping[str, float] | None) -> bool:
    """The comparison shows no effect as large as its metric's margin: TOST at the claim's level
    (each comparison at α/k, as its interval)."""
    margin = (margins or {}).get(c.kind)
    return bool(margin) and d is not None and stats.equivalent(d, margin, 1 - d.level)


def verdict(
    outcomes: list[tuple[Comparison, stats.Difference | None]],
    margins: Mapping[str, float] | None = None,
    flagged: Iterable[str] | None = None,
) -> str:
    """The claim's verdict from its comparisons' intervals (see the module docstring); `margins`:
    the smallest effect of interest per comparison kind (none: no equivalence verdict); `flagged`:
    the runs whose robustness may be masked."""
    if not outcomes or any(d is None or np.isnan(d.estimate) for _, d in outcomes):
        return NOT_TESTED
    role = roles(outcomes)
    used = [(c, d) for (c, d), r in zip(outcomes, role, strict=True) if r == DECIDES]
    if not any(not c.premise for c, _ in used):
        # nothing left to decide: because of the floor, or because no premise was shown
        return UNINFORMATIVE if AT_FLOOR in role and NO_PREMISE not in role else INCONCLUSIVE
    claimed = [(c, d) for c, d in used if not c.premise]
    flagged = set(flagged or ())
    against = [c for c, d in claimed if d.significant * c.sign < 0]
    if against:
        # a masked model looks more robust than it is: a contradiction survives where the side the
        # claim predicts to be worse is not masked
        return (
            CONTRADICTED if any(not (_side_runs(c, worse=True) & flagged) for c in against) else NOT_DECIDABLE
        )
    if all(d.significant * c.sign > 0 for c, d in claimed):
        return NOT_DECIDABLE if any(_side_runs(c) & flagged for c, _ in claimed) else SUPPORTED
    if all(equivalent(c, d, margins) for c, d in claimed):
        return NOT_DECIDABLE if any(_side_runs(c) & flagged for c, _ in claimed) else EQUIVALENT
    return INCONCLUSIVE


def _side_runs(c: Comparison, worse: bool | None = None) -> set[str]:
    """The runs a comparison reads: both sides, or (``worse``) only the side the claim predicts to be
    the less robust (B when it predicts A − B > 0)."""
    sides = [c.runs_a, c.runs_b] if worse is None else [c.runs_b if c.sign > 0 else c.runs_a]
    return {r for side in sides for s in side for r, _ in components(s)}


def masked_in(comps: list[Comparison], flagged: Mapping[str, list[str]]) -> str:
    """'run: check, check; …' for every flagged run the comparisons read ('' if none)."""
    used = sorted({r for c in comps for r in _side_runs(c)} & set(flagged))
    return "; ".join(f"{r}: {', '.join(flagged[r])}" for r in used)


def _outcomes(res: Results, dataset: str, comps: list[Comparison]) -> tuple[list, float]:
    """Each comparison's difference at the claim's Bonferroni level, and that level.

    The floor does not depend on the level (it reads the sides' means), so the comparisons at the
    floor are found first and not counted in k."""
    first = [(c, _difference(res, dataset, c, stats.LEVEL)) for c in comps]
    k = sum(not at_floor(c, d) for c, d in first)
    level = 1 - ALPHA / max(k, 1)
    return [(c, _difference(res, dataset, c, level)) for c in comps], level


def _power_columns(d: stats.Difference | None) -> dict:
    """What the comparison could see: its MDE and the points/seeds that would decide its effect."""
    if d is None or np.isnan(d.estimate):
        return dict(mde=np.nan, n_needed=np.nan, seeds_needed=np.nan, power=stats.POWER)
    return dict(
        mde=stats.minimum_detectable_effect(d),
        n_needed=stats.points_needed(d, d.estimate),
        seeds_needed=stats.seeds_needed(d, d.estimate),
        power=stats.POWER,
    )


def _equivalence_columns(
    c: Comparison | None, d: stats.Difference | None, margins: Mapping[str, float] | None
) -> dict:
    margin = (margins or {}).get(c.kind, np.nan) if c is not None else np.nan
    p = stats.equivalence_p(d, margin) if d is not None and margin == margin else np.nan
    # the same test as `equivalent`: TOST at the comparison's own level
    return dict(margin=margin, equivalence_p=p, equivalent=bool(p < 1 - d.level) if p == p else False)


def evaluate(
    res: Results,
    claims: list[Claim] = CLAIMS,
    margins: Mapping[str, float] | None = None,
    datasets: list[str] | None = None,
) -> pd.DataFrame:
    """One row per claim × dataset × comparison, with the claim's verdict on that dataset.

    Columns: claim, statement, decided_by, dataset, verdict, comparison, kind, sign (the sign of
    A − B the claim predicts), premise, estimate,
    low, high, level, n, seeds, mean_a, mean_b, role (`DECIDES`, `AT_FLOOR`, `NO_PREMISE`), mde (the
    minimum detectable effect at the claim's level and `stats.POWER`), n_needed and seeds_needed
    (points per seed, or seeds, at which the MDE would fall to the observed estimate; inf: never,
    NaN: not estimable), power, margin (the smallest effect of interest of the comparison's kind, NaN
    if none), equivalence_p (the TOST p-value against it) and equivalent (TOST at the claim's level).
    `margins`: kind ("accuracy" | "saliency") → smallest effect of interest (config
    ``claims.smallest_effect``); without it no verdict is "equivalent". `datasets`: these only
    (default: every dataset of `res`).
    """
    rows = []
    datasets = datasets if datasets is not None else res.datasets()
    flagged_by = {dataset: res.flagged_runs(dataset) for dataset in datasets}  # once, not per claim
    for claim in claims:
        for dataset in datasets:
            comps = claim.comparisons(res, dataset) or []
            outcomes, level = _outcomes(res, dataset, comps)
            flagged = flagged_by[dataset]
            v = verdict(outcomes, margins, flagged)
            base = dict(
                claim=claim.id,
                statement=claim.statement,
                decided_by=claim.decided_by,
                dataset=dataset,
                verdict=v,
                masked=masked_in([c for c, _ in outcomes], flagged) if v == NOT_DECIDABLE else "",
            )
            if not outcomes:
                rows.append(
                    dict(
                        base,
                        comparison="",
                        kind="",
                        sign=0,
                        premise=False,
                        estimate=np.nan,
                        low=np.nan,
                        high=np.nan,
                        level=np.nan,
                        n=0,
                        seeds=0,
                        mean_a=np.nan,
                        mean_b=np.nan,
                        role="",
                        **_power_columns(None),
                        **_equivalence_columns(None, None, margins),
                    )
                )
            for (c, d), r in zip(outcomes, roles(outcomes), strict=True):
                rows.append(
                    dict(
                        base,
                        comparison=c.label,
                        kind=c.kind,
                        sign=c.sign,
                        premise=c.premise,
                        estimate=d.estimate if d else np.nan,
                        low=d.low if d else np.nan,
                        high=d.high if d else np.nan,
                        level=level,
                        n=d.n if d else 0,
                        seeds=d.seeds if d else 0,
                        mean_a=d.mean_a if d else np.nan,
                        mean_b=d.mean_b if d else np.nan,
                        role=r,
                        **_power_columns(d),
                        **_equivalence_columns(c, d, margins),
                    )
                )
    return pd.DataFrame(rows)
