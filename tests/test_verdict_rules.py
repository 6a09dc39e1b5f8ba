"""The verdict rules of sagr.claims on constructed differences with a known answer: any comparison
on the wrong side contradicts a claim (mixed signs), a failed premise never decides, and the
intervals are Bonferroni-widened (significant at 95 % but not at 1 − 0.05/k: inconclusive)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from sagr import claims as C
from sagr import results
from sagr.stats import Difference
from test_claims import _write_run

UP, DOWN, ZERO = +1, -1, 0


def diff(side: int) -> Difference:
    """A difference whose interval lies above 0 (+1), below 0 (−1) or contains 0 (0)."""
    low, high = {UP: (0.05, 0.15), DOWN: (-0.15, -0.05), ZERO: (-0.05, 0.05)}[side]
    # Both sides' means far above the floor rule's FLOOR: every accuracy comparison decides.
    return Difference((low + high) / 2, low, high, 0.02, 0.01, 30.0, 400, 3, mean_a=0.5, mean_b=0.5)


def comp(sign: int = +1, premise: bool = False, group: object = None) -> C.Comparison:
    return C.Comparison("A − B", "accuracy", ("a",), ("b",), sign=sign, premise=premise, group=group)


@pytest.mark.parametrize(
    "sides,expected",
    [
        ((UP, UP), C.SUPPORTED),
        ((UP, DOWN), C.CONTRADICTED),  # mixed signs: one comparison on the wrong side is enough
        ((DOWN, UP, UP), C.CONTRADICTED),
        ((UP, ZERO), C.INCONCLUSIVE),
        ((ZERO, DOWN), C.CONTRADICTED),
        ((ZERO, ZERO), C.INCONCLUSIVE),
    ],
)
def test_verdict_of_constructed_comparisons(sides, expected) -> None:
    assert C.verdict([(comp(), diff(s)) for s in sides]) == expected


def test_the_predicted_sign_is_honoured() -> None:
    assert C.verdict([(comp(sign=-1), diff(DOWN))]) == C.SUPPORTED
    assert C.verdict([(comp(sign=-1), diff(UP))]) == C.CONTRADICTED


@pytest.mark.parametrize("claim_side", [UP, ZERO, DOWN])
def test_a_failed_premise_never_decides(claim_side) -> None:
    # The premise lies on the wrong side: it does not contradict the claim, and the claim, untestable
    # without its premise, is neither supported nor contradicted.
    outcomes = [(comp(premise=True), diff(DOWN)), (comp(), diff(claim_side))]
    assert C.verdict(outcomes) == C.INCONCLUSIVE


def test_a_failed_premise_of_another_group_neither_contradicts_nor_blocks() -> None:
    # A premise gates the comparisons of its own group (e.g. its ε) only, and never contradicts.
    outcomes = [(comp(premise=True, group=0.3), diff(DOWN)), (comp(group=0.1), diff(UP))]
    assert C.verdict(outcomes) == C.SUPPORTED


def test_a_premise_shown_lets_the_claim_decide() -> None:
    assert C.verdict([(comp(premise=True), diff(UP)), (comp(), diff(DOWN))]) == C.CONTRADICTED
    assert C.verdict([(comp(premise=True), diff(UP)), (comp(), diff(UP))]) == C.SUPPORTED
    assert C.verdict([(comp(premise=True), diff(ZERO)), (comp(), diff(UP))]) == C.INCONCLUSIVE


def test_a_missing_comparison_leaves_the_claim_not_tested() -> None:
    nan = Difference(*([math.nan] * 6), 0, 0)
    assert C.verdict([(comp(), diff(UP)), (comp(), None)]) == C.NOT_TESTED
    assert C.verdict([(comp(), diff(DOWN)), (comp(), nan)]) == C.NOT_TESTED
    assert C.verdict([]) == C.NOT_TESTED


# One seed, Gini std 0.1 on 400 images per model (test_claims' writer): SE = √(0.1² + 0.1²)/√400.
SE = math.sqrt(0.02) / 20
HALF_95 = sps.t.ppf(0.975, 399) * SE  # 0.0139
HALF_BONFERRONI_2 = sps.t.ppf(1 - 0.025 / 2, 399) * SE  # 0.0159 at level 1 − 0.05/2
EFFECT = 0.015  # significant at 95 %, not at 97.5 %


def _borderline(root: Path) -> results.Results:
    assert HALF_95 < EFFECT < HALF_BONFERRONI_2
    u = np.random.default_rng(0).random(400)
    manifest = []
    for run, gini in [("a", 0.5 + EFFECT), ("c", 0.5 + EFFECT), ("b", 0.5)]:
        _write_run(root, "d", run, "sagr", 0, 0.5, gini, u)
        manifest.append(
            {
                "dataset": "d",
                "run": run,
                "method": "sagr",
                "seed": 0,
                "hparams": {},
                "main": False,
                "sweeps": [],
            }
        )
    kinds = {
        "train": "train.json",
        "robustness": "robustness.json",
        "saliency": "saliency.json",
        "correct": "correct.npz",
    }
    files = {k: [root / "d" / e["run"] / name for e in manifest] for k, name in kinds.items()}
    return results.load(manifest, files)


def _claim(pairs: list[tuple[str, str]]) -> C.Claim:
    def comparisons(res, dataset):
        return [C.Comparison(f"{a} − {b}, Gini", "saliency", (a,), (b,)) for a, b in pairs]

    return C.Claim("X", "A is sharper than B.", "Gini", comparisons)


def test_intervals_are_bonferroni_widened(tmp_path: Path) -> None:
    res = _borderline(tmp_path)
    one = C.evaluate(res, [_claim([("a", "b")])])
    assert list(one["verdict"]) == [C.SUPPORTED]  # the premise of this test: significant at 95 %
    assert one["high"].iloc[0] - one["estimate"].iloc[0] == pytest.approx(HALF_95)
    two = C.evaluate(res, [_claim([("a", "b"), ("c", "b")])])
    assert set(two["verdict"]) == {C.INCONCLUSIVE}
    assert list(two["level"]) == pytest.approx([1 - 0.05 / 2] * 2)
    assert list(two["high"] - two["estimate"]) == pytest.approx([HALF_BONFERRONI_2] * 2)
