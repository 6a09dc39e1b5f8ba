"""SAGR's readings held to C2, C3 and C4: each reading against JR's λ curve at its own clean accuracy
(interpolated by hand below), β > 0 against β = 0, and the coupled form against IGR's curve."""

from __future__ import annotations

import numpy as np
import pytest

from sagr import claims as C
from sagr import readings, results
from test_verdicts import N, _write

# (clean, worst case at ε = 0.1, at ε = 0.3), Gini; multiples of 1/N so the evenly spaced points give them
JR = {0.03: (0.985, 0.50, 0.20), 0.1: (0.975, 0.60, 0.30), 0.3: (0.96, 0.70, 0.40)}
IGR = {1.0: (0.99, 0.30, 0.05), 3.0: (0.985, 0.40, 0.10), 10.0: (0.97, 0.50, 0.20)}
SAGR = {  # at λ = 0.1: the configured reading, β = 0 (= JR at λ = 0.1), β = 1, and the coupled form
    "configured": ((0.98, 0.65, 0.35), dict(beta=0.5, T=1.0, form="decoupled"), None),
    "beta0": ((0.975, 0.60, 0.30), dict(beta=0.0, T=1.0, form="decoupled"), ("beta", 0.0)),
    "beta1": ((0.9825, 0.55, 0.25), dict(beta=1.0, T=1.0, form="decoupled"), ("beta", 1.0)),
    "coupled": ((0.97, 0.72, 0.42), dict(beta=0.5, T=1.0, form="coupled"), ("form", "coupled")),
}


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> results.Results:
    root = tmp_path_factory.mktemp("readings")
    u = np.random.default_rng(1).permutation((np.arange(N) + 0.5) / N)
    manifest = []

    def add(run: str, method: str, ps: tuple, gini: float, hp: dict, main: bool, sweeps: list) -> None:
        _write(root, "mnist", run, method, 0, dict(zip((0, 0.1, 0.3), ps, strict=True)), gini, u)
        manifest.append(
            dict(dataset="mnist", run=run, method=method, seed=0, hparams=hp, main=main, sweeps=sweeps)
        )

    add("standard", "standard", (0.99, 0.0, 0.0), 0.3, {}, True, [])
    for lam, ps in JR.items():
        add(f"jr-{lam:g}", "jr", ps, 0.5, {"lam": lam}, lam == 0.03, [{"param": "lam", "value": lam}])
    for lam, ps in IGR.items():
        add(f"igr-{lam:g}", "igr", ps, 0.4, {"lam": lam}, lam == 3.0, [{"param": "lam", "value": lam}])
    for name, (ps, hp, sweep) in SAGR.items():
        sweeps = [{"param": sweep[0], "value": sweep[1]}] if sweep else [{"param": "beta", "value": 0.5}]
        gini = 0.6 if name == "configured" else 0.5
        add(f"sagr-{name}", "sagr", ps, gini, {"lam": 0.1, **hp}, name == "configured", sweeps)
    files = {
        k: [root / "mnist" / e["run"] / f for e in manifest]
        for k, f in dict(
            train="train.json", robustness="robustness.json", saliency="saliency.json", correct="correct.npz"
        ).items()
    }
    return results.load(manifest, files)


def _rows(df, reading: str, claim: str):
    return df[(df["reading"] == reading) & (df["claim"] == claim)]


def test_each_reading_is_held_against_jrs_curve_at_its_own_clean_accuracy(case) -> None:
    df = readings.evaluate(case)
    # configured, 98 % clean: halfway between JR λ=0.03 (98.5 %) and λ=0.1 (97.5 %): JR there 0.55, 0.25
    c2 = _rows(df, "configured (decoupled, β = 0.5, T = 1)", "C2")
    assert list(c2["estimate"]) == pytest.approx([0.10, 0.10])
    assert c2["comparison"].iloc[0] == "SAGR − JR curve (at clean 98.0 %), worst case ε=0.1"
    # Gini: 0.6 against JR's 0.5 everywhere on its curve
    assert list(_rows(df, "configured (decoupled, β = 0.5, T = 1)", "C3")["estimate"]) == pytest.approx([0.1])
    # β = 1, 98.25 % clean: a quarter of the way from JR λ=0.03 to 0.1: 0.525 and 0.225
    assert list(_rows(df, "β = 1", "C2")["estimate"]) == pytest.approx([0.025, 0.025])


def test_c4_holds_beta_against_beta_zero_and_the_coupled_form_against_igr(case) -> None:
    df = readings.evaluate(case)
    beta1 = _rows(df, "β = 1", "C4")
    assert list(beta1["estimate"]) == pytest.approx([-0.05, -0.05, 0.0])  # ε 0.1, ε 0.3, Gini
    assert beta1["comparison"].iloc[0] == "SAGR β = 1 − β=0, worst case ε=0.1"
    # coupled at 97 % clean sits on IGR's λ=10 point (0.50, 0.20): +0.22 at both ε
    coupled = _rows(df, "form = coupled", "C4")
    assert list(coupled.loc[coupled["kind"] == "accuracy", "estimate"]) == pytest.approx([0.22, 0.22])
    assert coupled["comparison"].iloc[0].startswith("SAGR form = coupled − IGR curve (at clean 97.0 %)")
    # β = 0 is C4's reference, not one of its readings
    assert (_rows(df, "β = 0", "C4")["verdict"] == C.NOT_TESTED).all()


def test_every_reading_gets_a_verdict_on_each_claim(case) -> None:
    df = readings.evaluate(case)
    labels = list(dict.fromkeys(df["reading"]))
    assert labels == ["configured (decoupled, β = 0.5, T = 1)", "form = coupled", "β = 0", "β = 1"]
    per = df.groupby(["reading", "claim"])["verdict"].nunique()
    assert (per == 1).all() and set(df["claim"]) == {"C2", "C3", "C4"}
    assert set(df["verdict"]) <= set(C.VERDICTS)
