"""Verdicts that say what they could see: the floor rule, premises per ε, claims at every ε, MDEs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import fake_results as fr
from sagr import claims as C
from sagr import results, stats
from sagr.files import write_json

N = 400


def _d(estimate: float, half: float, mean_a: float, mean_b: float) -> stats.Difference:
    return stats.Difference(
        estimate, estimate - half, estimate + half, half / 2, math.nan, 399, N, 1, 0.95, mean_a, mean_b
    )


def _acc(label: str, group: object = None, premise: bool = False) -> C.Comparison:
    return C.Comparison(label, "accuracy", ("a",), ("b",), eps=0.3, premise=premise, group=group)


def test_a_comparison_at_the_floor_does_not_decide() -> None:
    fine = (_acc("0.1", 0.1), _d(0.10, 0.05, 0.6, 0.5))
    # significantly negative, but both models below 5 %: would contradict the claim if it counted
    floor = (_acc("0.3", 0.3), _d(-0.03, 0.02, 0.01, 0.04))
    assert C.roles([fine, floor]) == [C.DECIDES, C.AT_FLOOR]
    assert C.verdict([fine, floor]) == C.SUPPORTED
    assert C.verdict([floor]) == C.UNINFORMATIVE
    # one side above the floor: the comparison counts
    above = (_acc("0.3", 0.3), _d(-0.03, 0.02, 0.01, 0.06))
    assert C.verdict([fine, above]) == C.CONTRADICTED
    # saliency values below 0.05 are no floor
    sal = (C.Comparison("Gini", "saliency", ("a",), ("b",)), _d(0.01, 0.005, 0.02, 0.01))
    assert C.roles([sal]) == [C.DECIDES] and C.verdict([sal]) == C.SUPPORTED


def test_a_premise_gates_only_its_own_eps() -> None:
    no_gap = (_acc("gap 0.1", 0.1, premise=True), _d(0.01, 0.05, 0.95, 0.94))
    wrong_way = (_acc("closes 0.1", 0.1), _d(-0.10, 0.05, 0.85, 0.95))  # no gap here: not used
    gap = (_acc("gap 0.3", 0.3, premise=True), _d(0.40, 0.05, 0.85, 0.45))
    closes = (_acc("closes 0.3", 0.3), _d(0.20, 0.05, 0.65, 0.45))
    outcomes = [no_gap, gap, wrong_way, closes]
    assert C.roles(outcomes) == [C.DECIDES, C.DECIDES, C.NO_PREMISE, C.DECIDES]
    assert C.verdict(outcomes) == C.SUPPORTED
    # without a gap anywhere nothing decides: inconclusive, not supported
    assert C.verdict([no_gap, wrong_way]) == C.INCONCLUSIVE
    # a gap whose two sides are at the floor is no gap either
    floor_gap = (_acc("gap 0.3", 0.3, premise=True), _d(0.03, 0.01, 0.04, 0.01))
    assert C.roles([floor_gap, closes]) == [C.AT_FLOOR, C.NO_PREMISE]


# ---------------------------------------------------------------- from result files


EPS = (0.1, 0.3)


def _write(
    root: Path, dataset: str, run: str, method: str, seed: int, ps: dict, gini: float, u: np.ndarray
) -> None:
    """One run, point i correct under the worst case at ε iff u_i < ps[ε] (clean: ps[0])."""
    d = root / dataset / run
    d.mkdir(parents=True)
    head = {"dataset": dataset, "run": run, "method": method, "seed": seed}
    arrays = {"clean": (u < ps[0]).astype(np.int8)}
    records = [
        dict(
            attack="clean",
            kind="clean",
            norm="none",
            eps=0.0,
            n=N,
            n_correct=int(arrays["clean"].sum()),
            accuracy=float(arrays["clean"].mean()),
            points="all",
            role=None,
        )
    ]
    worst = []
    for eps in EPS:
        a = (u < ps[eps]).astype(np.int8)
        arrays[f"pgd@{eps:g}"] = arrays[f"worst@{eps:g}"] = a
        acc = dict(n=N, n_correct=int(a.sum()), accuracy=float(a.mean()))
        records.append(
            dict(attack="pgd", kind="pgd", role="baseline", norm="linf", eps=eps, points="all", **acc)
        )
        worst.append(dict(norm="linf", eps=eps, attacks=["pgd"], apgd_strength=False, **acc))
    # Through sagr.files, as the jobs write them: the readers verify each file's hash record.
    write_json(d / "train.json", {**head, "history": [], "status": "ok"})
    write_json(
        d / "robustness.json", {**head, "n_eval": N, "records": records, "worst_case": worst, "masking": []}
    )
    write_json(d / "saliency.json", {**head, "n_images": N, "metrics": {"gini": {"mean": gini, "std": 0.1}}})
    fr.write_npz(d / "correct.npz", **arrays)


# worst case (clean, ε=0.1, ε=0.3) and Gini per method: JR and SAGR both at the floor at ε = 0.3,
# where SAGR is a little worse; at ε = 0.1 SAGR is 20 points better. β = 0 is SAGR without β.
RUNS = {
    "pgd_at": ((0.98, 0.90, 0.85), 0.8),
    "jr": ((0.98, 0.50, 0.04), 0.5),
    "sagr": ((0.98, 0.70, 0.01), 0.6),
}
BETA0 = ((0.98, 0.50, 0.03), 0.5)


@pytest.fixture(scope="module")
def floor_case(tmp_path_factory: pytest.TempPathFactory) -> results.Results:
    root = tmp_path_factory.mktemp("floor")
    u = np.random.default_rng(0).random(N)
    manifest = []
    for seed in (0, 1, 2):
        for method, (ps, gini) in RUNS.items():
            run = f"{method}-seed{seed}"
            _write(root, "mnist", run, method, seed, dict(zip((0, *EPS), ps, strict=True)), gini, u)
            sweeps = [{"param": "beta", "value": 0.5}] if method == "sagr" else []
            manifest.append(
                dict(dataset="mnist", run=run, method=method, seed=seed, hparams={}, main=True, sweeps=sweeps)
            )
        run = f"sagr-beta0-seed{seed}"
        _write(root, "mnist", run, "sagr", seed, dict(zip((0, *EPS), BETA0[0], strict=True)), BETA0[1], u)
        manifest.append(
            dict(
                dataset="mnist",
                run=run,
                method="sagr",
                seed=seed,
                hparams={"beta": 0.0},
                main=False,
                sweeps=[{"param": "beta", "value": 0.0}],
            )
        )
    names = {
        "train": "train.json",
        "robustness": "robustness.json",
        "saliency": "saliency.json",
        "correct": "correct.npz",
    }
    files = {k: [root / e["dataset"] / e["run"] / f for e in manifest] for k, f in names.items()}
    return results.load(manifest, files)


def _claim(df, cid: str):
    return df[df["claim"] == cid]


def test_floor_comparisons_are_listed_but_do_not_decide_or_widen_the_level(
    floor_case: results.Results,
) -> None:
    df = C.evaluate(floor_case)
    c2 = _claim(df, "C2").set_index("comparison")
    floor = c2.loc["SAGR − JR, worst case ε=0.3"]
    assert floor["role"] == C.AT_FLOOR and floor["high"] < 0  # SAGR 3 points below JR there
    assert c2.loc["SAGR − JR, worst case ε=0.1", "role"] == C.DECIDES
    assert (c2["verdict"] == C.SUPPORTED).all()
    assert np.allclose(c2["level"], 0.95)  # k = 1: the floor comparison is not counted


def test_c4_and_c5_are_decided_at_every_eps(floor_case: results.Results) -> None:
    df = C.evaluate(floor_case)
    c4 = _claim(df, "C4")
    assert set(c4["comparison"]) == {
        "β=0.5 − β=0, worst case ε=0.1",
        "β=0.5 − β=0, worst case ε=0.3",
        "β=0.5 − β=0, Gini",
    }
    assert c4["verdict"].iloc[0] == C.SUPPORTED  # ε = 0.1 and Gini decide; ε = 0.3 is at the floor
    c5 = _claim(df, "C5").set_index("comparison")
    assert len(c5) == 2 * len(EPS)
    assert c5.loc["SAGR − JR, worst case ε=0.3", "role"] == C.AT_FLOOR
    assert c5.loc["SAGR − JR, worst case ε=0.1", "role"] == C.DECIDES
    assert (c5["verdict"] == C.SUPPORTED).all()  # before, only ε = 0.3 (at the floor) was asked


def test_every_comparison_states_its_mde_and_what_would_decide_it(floor_case: results.Results) -> None:
    df = C.evaluate(floor_case)
    acc = df[(df["kind"] == "accuracy") & (df["high"] > df["low"])]
    assert len(acc) and (acc["power"] == stats.POWER).all()
    # MDE = (t_(1-α/2) + t_power)·SE and half-width = t_(1-α/2)·SE: their ratio lies between the
    # normal one (2.80/1.96) and the one at 2 df (5.36/4.30); MDE = half-width would give 1
    ratio = acc["mde"] / ((acc["high"] - acc["low"]) / 2)
    assert ratio.between(1.246, 1.430).all()
    # an effect smaller than the MDE needs more points than were used, a larger one fewer
    small = acc[acc["estimate"].abs() < acc["mde"]]
    large = acc[acc["estimate"].abs() > acc["mde"]]
    assert len(small) and len(large)
    assert (small["n_needed"] > small["n"]).all() and (large["n_needed"] <= large["n"]).all()
