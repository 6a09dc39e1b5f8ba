"""The claims' comparisons built from result files, and the claims table's rows when a claim cannot be
tested: which runs are paired, at which ε, with which kind of metric and suite, what a premise is,
and what a row without a difference states. The builders are called inside the tests (CLAIMS is
built at import, where a mutation tool cannot switch a mutant on). Written to kill the mutants that
survived `benchmarks/mutation_score.py`."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import fake_results as fr
from sagr import claims as C
from sagr import results, stats
from sagr.files import read_json, write_json
from test_claims import CASES, EPS, SEEDS, N, write_case
from test_tradeoff import sweep_case, sweep_files  # noqa: F401 (fixtures: a λ sweep with known accuracies)
from test_verdict_rules import comp, diff


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], dict]:
    return write_case(tmp_path_factory.mktemp("claims_edges"))


def _load(written: tuple[list[dict], dict], drop=lambda e: False) -> results.Results:
    manifest, files = written
    keep = [i for i, e in enumerate(manifest) if not drop(e)]
    return results.load([manifest[i] for i in keep], {k: [v[i] for i in keep] for k, v in files.items()})


@pytest.fixture(scope="module")
def case(written: tuple[list[dict], dict]) -> results.Results:
    return _load(written)


def _rows(df: pd.DataFrame, claim: str, dataset: str = "sup") -> pd.DataFrame:
    return df[(df["claim"] == claim) & (df["dataset"] == dataset)]


# ------------------------------------------------------------------ the comparisons of each claim


def test_sharper_pairs_the_same_seeds_on_gini(case: results.Results) -> None:
    comps = C._sharper([("pgd_at", "jr"), ("sagr", "jr")])(case, "sup")
    assert [(c.kind, c.runs_a, c.runs_b, c.premise) for c in comps] == [
        ("saliency", tuple(f"pgd_at-seed{s}" for s in SEEDS), tuple(f"jr-seed{s}" for s in SEEDS), False),
        ("saliency", tuple(f"sagr-seed{s}" for s in SEEDS), tuple(f"jr-seed{s}" for s in SEEDS), False),
    ]
    assert comps[1].label == "SAGR − JR, Gini"
    assert C._sharper([("sagr", "jr"), ("sagr", "nothing")])(case, "sup") is None
    # Decided by the Gini difference (0.15 above by construction), not by accuracy.
    df = C.evaluate(case, [C.Claim("X", "s", "d", C._sharper([("sagr", "jr")]))])
    row = _rows(df, "X").iloc[0]
    assert row["kind"] == "saliency" and row["estimate"] == pytest.approx(0.15)


def test_narrows_gap_has_the_gap_as_premise_at_every_eps(case: results.Results) -> None:
    comps = C._narrows_gap(case, "sup")
    assert [(c.premise, c.group, c.runs_a[0].split("-")[0]) for c in comps] == [
        (True, EPS[0], "pgd_at"),
        (True, EPS[1], "pgd_at"),
        (False, EPS[0], "sagr"),
        (False, EPS[1], "sagr"),
    ]
    df = C.evaluate(case, [C.Claim("C5", "s", "d", C._narrows_gap)])
    assert list(_rows(df, "C5")["premise"]) == [True, True, False, False]


def test_claims_use_the_bounded_linf_budgets_of_their_own_dataset() -> None:
    wc = pd.DataFrame(
        [
            ("a", "linf", 0.1),
            ("a", "linf", 0.3),
            ("a", "linf", 0.3),
            ("a", "linf", 1.0),  # the unbounded sanity check: no claim is decided there
            ("a", "l2", 0.5),
            ("b", "linf", 0.2),
        ],
        columns=["dataset", "norm", "eps"],
    )
    res = SimpleNamespace(worst_case=wc)
    assert C._worst_eps(res, "a") == [0.1, 0.3]
    assert C._worst_eps(res, "b") == [0.2]
    wc.loc[3, "eps"] = 1.5
    assert C._worst_eps(res, "a") == [0.1, 0.3]
    assert C._worst_eps(SimpleNamespace(worst_case=wc.iloc[:0]), "a") == []


def test_beta_claim_compares_accuracy_at_every_eps_and_gini(case: results.Results) -> None:
    rows = _rows(C.evaluate(case, [C.Claim("C4", "s", "d", C._beta_positive)]), "C4")
    assert list(rows["kind"]) == ["accuracy"] * len(EPS) + ["saliency"]
    assert (rows["seeds"] == len(SEEDS)).all()


def test_beta_claim_without_beta_zero_is_not_tested(written) -> None:
    res = _load(written, drop=lambda e: "beta0" in e["run"])
    assert C._beta_positive(res, "sup") is None


def test_beta_claim_pairs_only_the_seeds_both_values_have(written) -> None:
    res = _load(written, drop=lambda e: e["run"] == "sagr-beta0-seed2")
    comps = C._beta_positive(res, "sup")
    assert comps and all(len(c.runs_a) == len(c.runs_b) == 2 for c in comps)
    assert all(c.runs_b == ("sagr-beta0-seed0", "sagr-beta0-seed1") for c in comps)


def _beta_values(written, value_of) -> results.Results:
    """The written case with each β-sweep run's β replaced by ``value_of(run)``."""
    manifest, files = written
    entries = [
        {**e, "sweeps": [{"param": "beta", "value": value_of(e["run"])}]}
        if any(s["param"] == "beta" for s in e["sweeps"])
        else e
        for e in manifest
    ]
    return results.load(entries, files)


def test_beta_claim_with_two_values_but_no_beta_zero_is_not_tested(written) -> None:
    res = _beta_values(written, lambda run: 1.0 if "beta0" in run else 0.5)
    assert C._beta_positive(res, "sup") is None


def test_beta_claim_skips_a_value_without_common_seeds_and_compares_the_next(written) -> None:
    # β = 0: seeds 0 and 1; β = 0.5 (sorted first): seed 2 only, nothing to pair; β = 1: seeds 0, 1, 2.
    res = _beta_values(
        written, lambda run: (0.5 if run.endswith("seed2") else 0.0) if "beta0" in run else 1.0
    )
    comps = C._beta_positive(res, "sup")
    assert comps and len(comps) == len(EPS) + 1
    assert all(c.label.startswith("β=1 − β=0") for c in comps)
    assert all(c.runs_a == ("sagr-seed0", "sagr-seed1") for c in comps)
    assert all(c.runs_b == ("sagr-beta0-seed0", "sagr-beta0-seed1") for c in comps)


def test_beta_claim_scores_both_sides_with_the_attacks_both_ran(tmp_path: Path) -> None:
    # The default β = 0.5 runs (the main SAGR runs) get one more attack at the largest ε that breaks 60
    # more points; the β = 0 runs never ran it. Compared over the common suite (PGD), β > 0 − β = 0 is
    # still the constructed +0.15; over each run's own worst case it would drop by 0.15.
    root = tmp_path
    manifest, files = write_case(root)
    eps = EPS[-1]
    for seed in SEEDS:
        d = root / "sup" / f"sagr-seed{seed}"
        arrays = dict(np.load(d / "correct.npz"))
        pgd = arrays[f"pgd@{eps:g}"]
        extra = pgd.copy()
        extra[np.flatnonzero(pgd == 1)[:60]] = 0
        arrays[f"square@{eps:g}"] = extra
        arrays[f"worst@{eps:g}"] = np.minimum(pgd, extra)
        fr.write_npz(d / "correct.npz", **arrays)
        rob = read_json(d / "robustness.json")
        rob["records"].append(
            {
                "attack": "square",
                "kind": "square",
                "role": "blackbox",
                "norm": "linf",
                "eps": eps,
                "n": N,
                "n_correct": int(extra.sum()),
                "accuracy": float(extra.mean()),
                "points": "all",
            }
        )
        for w in rob["worst_case"]:
            if w["eps"] == eps:
                w.update(attacks=["pgd", "square"], accuracy=float(arrays[f"worst@{eps:g}"].mean()))
                w["n_correct"] = int(arrays[f"worst@{eps:g}"].sum())
        write_json(d / "robustness.json", rob)
    res = results.load(manifest, files)
    comps = [c for c in C._beta_positive(res, "sup") if c.kind == "accuracy" and c.eps == eps]
    assert len(comps) == 1 and comps[0].suite == ("pgd",)
    rows = _rows(C.evaluate(res, [C.Claim("C4", "s", "d", C._beta_positive)]), "C4")
    at_eps = rows[rows["comparison"].str.endswith(f"ε={eps:g}")].iloc[0]
    assert at_eps["estimate"] == pytest.approx(CASES["sup"], abs=0.03)
    # ... while the main SAGR runs' own worst case (C2, no suite) does see the extra attack.
    c2 = _rows(C.evaluate(res, [C.Claim("C2", "s", "d", C._robust_at_each_eps("sagr", "jr"))]), "C2")
    assert c2[c2["comparison"].str.endswith(f"ε={eps:g}")].iloc[0]["estimate"] == pytest.approx(
        CASES["sup"] - 60 / N, abs=0.03
    )


def test_narrows_gap_without_pgd_at_is_not_tested(written) -> None:
    res = _load(written, drop=lambda e: e["method"] == "pgd_at")
    assert C._narrows_gap(res, "sup") is None


# ------------------------------------------------------------------ the claims table's rows


def test_a_claim_without_comparisons_gets_one_row_with_no_numbers(case: results.Results) -> None:
    df = C.evaluate(case, [C.Claim("X", "a statement", "a metric", lambda res, dataset: None)])
    assert len(df) == len(CASES)
    row = df.iloc[0]
    assert (row["statement"], row["decided_by"], row["verdict"]) == ("a statement", "a metric", C.NOT_TESTED)
    assert (row["comparison"], row["kind"], row["role"], row["n"], row["seeds"]) == ("", "", "", 0, 0)
    assert isinstance(row["premise"], bool | np.bool_) and not row["premise"]
    for col in ("estimate", "low", "high", "level", "mean_a", "mean_b", "mde", "n_needed", "seeds_needed"):
        assert isinstance(row[col], float) and math.isnan(row[col]), col
    assert row["power"] == stats.POWER


def test_a_comparison_without_a_difference_states_no_numbers(case: results.Results) -> None:
    missing = C.Comparison("A − B", "accuracy", ("no-such-run",), ("jr-seed0",), eps=EPS[0], premise=True)
    df = C.evaluate(case, [C.Claim("X", "s", "d", lambda res, dataset: [missing])])
    row = df.iloc[0]
    assert row["verdict"] == C.NOT_TESTED and bool(row["premise"]) is True
    assert (row["n"], row["seeds"], row["comparison"], row["kind"]) == (0, 0, "A − B", "accuracy")
    for col in ("estimate", "low", "high", "mean_a", "mean_b", "mde", "n_needed", "seeds_needed"):
        assert isinstance(row[col], float) and math.isnan(row[col]), col
    assert row["power"] == stats.POWER


def test_a_decided_row_states_both_sides_and_what_would_decide_it(case: results.Results) -> None:
    rows = _rows(C.evaluate(case, [C.Claim("C2", "s", "d", C._robust_at_each_eps("sagr", "jr"))]), "C2")
    last = rows.iloc[-1]
    # Each side's mean is its runs' worst-case accuracy at that ε, averaged over the seeds.
    wc = case.worst_case
    wc = wc[(wc["dataset"] == "sup") & (wc["eps"] == EPS[-1])]
    side = lambda m: wc.loc[wc["run"].isin([f"{m}-seed{s}" for s in SEEDS]), "accuracy"].mean()  # noqa: E731
    assert (last["mean_a"], last["mean_b"]) == pytest.approx((side("sagr"), side("jr")))
    assert last["mean_a"] - last["mean_b"] == pytest.approx(last["estimate"])
    assert (
        isinstance(last["premise"], bool | np.bool_) and not last["premise"] and last["seeds"] == len(SEEDS)
    )
    for col in ("mde", "n_needed", "seeds_needed"):
        assert isinstance(last[col], float) and not math.isnan(last[col]) and last[col] > 0, col
    assert last["power"] == stats.POWER


# ------------------------------------------------------------------ the verdict rule's edges


def test_floor_is_strictly_below_five_percent() -> None:
    at = stats.Difference(-0.01, -0.02, -0.005, 0.003, math.nan, 399, 400, 1, 0.95, C.FLOOR, 0.01)
    assert not C.at_floor(comp(), at)
    at_b = stats.Difference(-0.01, -0.02, -0.005, 0.003, math.nan, 399, 400, 1, 0.95, 0.01, C.FLOOR)
    assert not C.at_floor(comp(), at_b)


def test_a_claim_with_one_comparison_at_the_floor_and_one_without_premise_is_inconclusive() -> None:
    floor = stats.Difference(0.01, 0.005, 0.02, 0.003, math.nan, 399, 400, 1, 0.95, 0.02, 0.01)
    outcomes = [
        (comp(group=0.1), floor),
        (comp(premise=True, group=0.3), diff(-1)),
        (comp(group=0.3), diff(+1)),
    ]
    assert C.roles(outcomes) == [C.AT_FLOOR, C.DECIDES, C.NO_PREMISE]
    assert C.verdict(outcomes) == C.INCONCLUSIVE


# ------------------------------------------------------------------ matched clean accuracy (C2m, C3m)


def test_matched_clean_compares_sagrs_curve_at_each_jr_points_clean_accuracy(sweep_case, case) -> None:  # noqa: F811
    # JR λ = 0.03 (98.5 % clean) lies 2/3 of the way from SAGR λ = 0.03 (99 %) to λ = 0.1 (98.25 %): that
    # blend is compared with it, at every ε of the sweep's common suite for C2m and on Gini for C3m.
    acc = C._matched_clean("accuracy")(sweep_case, "mnist")
    first = acc[:2]
    blend = ((("sagr-lam0.03-seed0", pytest.approx(1 / 3)), ("sagr-lam0.1-seed0", pytest.approx(2 / 3))),)
    assert [(c.kind, c.eps, c.group, c.runs_a, c.runs_b, c.premise) for c in first] == [
        ("accuracy", 0.1, 0.1, blend, ("jr-lam0.03-seed0",), False),
        ("accuracy", 0.3, 0.3, blend, ("jr-lam0.03-seed0",), False),
    ]
    assert len(acc) == 8  # 4 JR points x 2 eps, every one inside SAGR's curve
    assert all(isinstance(c.suite, tuple) and "pgd" in c.suite for c in acc)
    head = "SAGR curve − JR λ=0.03 (at its clean 98.5 %)"
    assert [c.label for c in first] == [f"{head}, worst case ε=0.1", f"{head}, worst case ε=0.3"]
    sal = C._matched_clean("saliency")(sweep_case, "mnist")
    assert len(sal) == 4 and (sal[0].kind, sal[0].runs_a, sal[0].label) == (
        "saliency",
        blend,
        f"{head}, Gini",
    )
    # Without a λ sweep there is nothing to match.
    assert (
        C._matched_clean("accuracy")(case, "sup") is None
        and C._matched_clean("saliency")(case, "sup") is None
    )
