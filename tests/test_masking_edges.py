"""The masking checks on the inputs where a wrong selection of attacks or points would change a
verdict: cascade attacks (which see only the points the others left, so no paired comparison), a
white-box side known on a subset only, attacks run at several ε, role-based pairing in check 4,
parameters recorded differently, and what a not-applicable or a no-discordance check reports.
Written to kill the mutants that survived `benchmarks/mutation_score.py`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sagr.masking import masking_checks
from test_masking import C, N, broken_first, healthy, results

NE = -1  # not evaluated (sagr.robustness.records.NOT_EVALUATED)


def _points(arr_on: np.ndarray, on: slice) -> np.ndarray:
    """arr on the points `on`, not evaluated elsewhere."""
    out = np.full(N, NE, np.int8)
    out[on] = arr_on[on]
    return out


def _check(arrays: dict, i: int, points: dict[str, str] | None = None, params: dict | None = None) -> dict:
    records, correct = results(arrays)
    for name, value in (points or {}).items():
        records.loc[records["attack"] == name, "points"] = value
    for name, value in (params or {}).items():
        idx = records.index[records["attack"] == name]
        records.loc[idx, "params"] = pd.Series([value] * len(idx), index=idx, dtype=object)
    return masking_checks(records, correct, C)[i]


def _broken(idx) -> np.ndarray:
    arr = np.ones(N, np.int8)
    arr[idx] = 0
    return arr


# ------------------------------------------------------------------ what a check reports


def test_a_check_without_discordant_points_reports_p_one_on_the_shared_points() -> None:
    # Every attack broke the same 20 points at both ε: no comparison has a discordant point.
    same = broken_first(20)
    arrays = {("pgd", "pgd", "baseline", 0.1): same, ("pgd", "pgd", "baseline", 0.3): same.copy()}
    res = _check(arrays, 0)
    assert res["passed"] is True and res["p_value"] == 1.0 and res["n_points"] == N


def test_checks_report_the_points_of_their_worst_comparison() -> None:
    res = masking_checks(*results(healthy()), C)
    assert [r["n_points"] for r in res] == [N] * 4


def test_a_check_that_does_not_apply_compared_no_points() -> None:
    res = masking_checks(*results({}), C)
    assert all(r["passed"] is None and r["n_points"] == 0 and r["p_value"] is None for r in res)


def test_without_a_class_count_there_is_no_chance_premise() -> None:
    assert [r["passed"] for r in masking_checks(*results(healthy()), None)] == [True] * 4


def test_a_clean_record_without_points_is_not_above_chance() -> None:
    records, correct = results(healthy())
    records.loc[records["attack"] == "clean", ["n", "n_correct", "accuracy"]] = [0, 0, float("nan")]
    assert all(r["passed"] is None and "chance" in r["detail"] for r in masking_checks(records, correct, C))


# ------------------------------------------------------------------ check 2: unbounded


def test_unbounded_check_needs_an_attack_at_eps_one() -> None:
    arrays = {k: v for k, v in healthy().items() if k[3] < 1}
    assert _check(arrays, 1)["passed"] is None


def test_unbounded_check_counts_a_point_any_unbounded_attack_measured() -> None:
    # PGD at ε = 1 on all points leaves point 63; a subset attack there ran on the first 32 only.
    # Point 63 was measured (by PGD) and survived: the check fails.
    arrays = healthy()
    arrays[("pgd_unbounded", "pgd", "unbounded", 1.0)] = broken_first(N - 1)
    arrays[("fgsm_unbounded", "fgsm", "unbounded", 1.0)] = _points(broken_first(N), slice(0, 32))
    res = _check(arrays, 1)
    assert res["passed"] is False and res["n_points"] == N


# ------------------------------------------------------------------ check 3: black-box


def test_a_cascade_square_is_not_a_paired_comparison() -> None:
    # A cascade Square runs only on the points the white-box attacks left robust, where the white-box
    # side can never win: comparing there would call every Square success masking.
    arrays = {
        ("pgd", "pgd", "baseline", 0.3): broken_first(20),
        ("square", "square", "blackbox", 0.3): _points(broken_first(26), slice(20, N)),
    }
    assert _check(arrays, 2, points={"square": "cascade"})["passed"] is None
    assert _check(arrays, 2)["passed"] is False  # the same outcomes on fixed points: 6 vs 0, p = 1/64


def test_white_box_side_counts_cascade_white_box_attacks() -> None:
    # PGD breaks 0–19 on all points, a cascade APGD the pool's 20–29; Square (fixed) breaks 0–29.
    arrays = {
        ("pgd", "pgd", "baseline", 0.3): broken_first(20),
        ("apgd", "apgd_ce", "strong", 0.3): _points(broken_first(30), slice(20, N)),
        ("square", "square", "blackbox", 0.3): broken_first(30),
    }
    res = _check(arrays, 2, points={"apgd": "cascade"})
    assert res["passed"] is True and res["p_value"] == 1.0


def test_white_box_side_keeps_its_breaks_outside_a_cascade_pool() -> None:
    # White-box: PGD breaks 0–19 (all points), a cascade APGD runs on 20–63 and breaks 20–29.
    # Square misses 0–19 but breaks 20–35: 6 points only Square broke against 20 only white-box
    # broke, no evidence of masking (a white-box break counts wherever it is).
    arrays = {
        ("pgd", "pgd", "baseline", 0.3): broken_first(20),
        ("apgd", "apgd_ce", "strong", 0.3): _points(broken_first(30), slice(20, N)),
        ("square", "square", "blackbox", 0.3): _broken(range(20, 36)),
    }
    assert _check(arrays, 2, points={"apgd": "cascade"})["passed"] is True


def test_white_box_side_is_known_only_where_all_its_attacks_ran() -> None:
    # A strong PGD ran on the first 32 points only: beyond them the white-box side is unknown, so
    # Square's 8 breaks there are not compared.
    arrays = {
        ("pgd", "pgd", "baseline", 0.3): broken_first(20),
        ("pgd_strong", "pgd", "strong", 0.3): _points(broken_first(20), slice(0, 32)),
        ("square", "square", "blackbox", 0.3): _broken(list(range(20)) + list(range(40, 48))),
    }
    res = _check(arrays, 2)
    assert res["passed"] is True and res["n_points"] == 32


def test_a_non_gradient_attack_is_not_on_the_white_box_side() -> None:
    # AutoAttack (it contains Square) in a strong role does not make Square look weaker.
    arrays = {
        ("pgd", "pgd", "baseline", 0.3): broken_first(20),
        ("aa", "autoattack", "strong", 0.3): broken_first(30),
        ("square", "square", "blackbox", 0.3): broken_first(30),
    }
    assert _check(arrays, 2)["passed"] is False


def test_square_at_an_eps_without_white_box_attacks_does_not_end_the_check() -> None:
    arrays = {
        ("square", "square", "blackbox", 0.05): broken_first(5),
        ("pgd", "pgd", "baseline", 0.3): broken_first(20),
        ("square", "square", "blackbox", 0.3): broken_first(30),
    }
    res = _check(arrays, 2)
    assert res["passed"] is False and "ε 0.3" in res["detail"]


# ------------------------------------------------------------------ check 4: more steps


def test_more_steps_compares_only_strong_against_baseline_roles() -> None:
    # Two baseline PGDs that differ, two strong PGDs that differ: neither pair is a steps comparison;
    # every strong PGD beats every baseline PGD.
    arrays = {
        ("pgd", "pgd", "baseline", 0.3): broken_first(20),
        ("pgd10", "pgd", "baseline", 0.3): broken_first(30),
        ("pgd_strong", "pgd", "strong", 0.3): broken_first(50),
        ("pgd_strong2", "pgd", "strong", 0.3): broken_first(40),
    }
    res = _check(arrays, 3)
    assert res["passed"] is True and res["detail"].startswith("4 ")


def test_a_cascade_strong_or_baseline_attack_is_not_a_steps_comparison() -> None:
    # A cascade attack saw only what the others left: the other side cannot win there.
    arrays = {
        ("pgd", "pgd", "baseline", 0.3): broken_first(40),
        ("pgd_strong", "pgd", "strong", 0.3): _points(broken_first(52), slice(40, N)),
    }
    assert _check(arrays, 3, points={"pgd_strong": "cascade"})["passed"] is None
    arrays = {
        ("pgd", "pgd", "baseline", 0.3): _points(broken_first(52), slice(40, N)),
        ("pgd_strong", "pgd", "strong", 0.3): broken_first(40),
    }
    assert _check(arrays, 3, points={"pgd": "cascade"})["passed"] is None


def test_more_steps_names_apgd_parameters_and_tolerates_different_parameter_sets() -> None:
    arrays = {
        ("apgd", "apgd_ce", "baseline", 0.3): broken_first(40),
        ("apgd_strong", "apgd_ce", "strong", 0.3): np.r_[np.ones(12), broken_first(40)[12:]].astype(np.int8),
    }
    res = _check(
        arrays,
        3,
        params={
            "apgd": {"n_iter": 10, "n_restarts": 1},
            "apgd_strong": {"n_iter": 100, "n_restarts": 5, "seed": 0},
        },
    )
    assert res["passed"] is False
    assert "n_iter 10→100" in res["detail"] and "n_restarts 1→5" in res["detail"]
    res = _check(arrays, 3, params={"apgd": {"n_iter": 10}, "apgd_strong": {"n_iter": 100, "n_restarts": 5}})
    assert res["passed"] is False and "n_iter 10→100" in res["detail"]


def test_records_without_correct_counts_use_accuracy_times_n() -> None:
    # Older result files have no n_correct: the chance test reads k = round(accuracy · n).
    for clean_correct, applies in ((13, True), (8, False)):  # 13/64 is above chance 1/10, 8/64 is not
        records, correct = results(healthy(), clean_correct=clean_correct)
        res = masking_checks(records.drop(columns=["n_correct"]), correct, C)
        assert all((r["passed"] is not None) is applies for r in res)


def test_records_missing_a_required_column_are_rejected() -> None:
    records, correct = results(healthy())
    with pytest.raises(ValueError, match="lack"):
        masking_checks(records.drop(columns=["accuracy"]), correct, C)


# ------------------------------------------------------------------ what the reader is told

NOT_APPLICABLE = {
    "monotone_eps": "not applicable: no L∞ attack was run at two or more ε",
    "unbounded_zero": "not applicable: no L∞ attack was run at ε ≥ 1",
    "blackbox_not_stronger": "not applicable: no blackbox-role attack ran at an ε where a white-box attack also ran",
    "more_steps_no_gain": "not applicable: no strong-role attack ran beside a baseline-role attack of the same "
    "kind at a common ε",
}


def test_a_check_that_does_not_apply_says_which_attacks_it_lacked() -> None:
    # the report prints this text as the only explanation of a blank verdict
    assert {r["check"]: r["detail"] for r in masking_checks(*results({}), C)} == NOT_APPLICABLE
    records, _ = results(healthy())
    assert {r["detail"] for r in masking_checks(records, None, C)} == {
        "not applicable: per-point results (correct.npz) are missing"
    }


def test_each_check_names_its_comparisons_and_its_worst_one() -> None:
    monotone, unbounded, blackbox, steps = (r["detail"] for r in masking_checks(*results(healthy()), C))
    # 2 attacks at 2 ε each, Square at one ε, one (baseline, strong) pair
    assert monotone.startswith("2 (attack, ε < ε′) pairs compared; worst case: ")
    assert blackbox.startswith("1 ε compared; worst case: ε 0.3 on 64 shared points: ")
    assert blackbox.split(": ", 2)[2].startswith(
        "0 broken only by square, 3 only by white-box (fgsm, pgd, pgd_strong);"
    )
    assert steps.startswith("1 (baseline, strong) pairs compared; worst case: ε 0.3, pgd vs pgd_strong ")
    assert "(steps 20→100, restarts 1→2)" in steps
    assert unbounded == "0 of 64 points survive every attack at ε ≥ 1 (pgd_unbounded@1)"


def test_a_failed_check_says_violation() -> None:
    arrays = healthy()
    arrays[("square", "square", "blackbox", 0.3)] = broken_first(N)
    blackbox = masking_checks(*results(arrays), C)[2]
    assert blackbox["passed"] is False
    assert blackbox["detail"].startswith(
        "1 ε compared; VIOLATION: ε 0.3 on 64 shared points: 23 broken only by"
    )


def test_check_4_says_when_the_attacks_recorded_no_parameters() -> None:
    res = _check(healthy(), 3, params={"pgd": {}, "pgd_strong": {}})
    assert "(parameters not recorded)" in res["detail"]
    res = _check(healthy(), 3, params={"pgd": {"steps": 20}, "pgd_strong": {}})
    assert "(parameters not recorded)" in res["detail"]


def test_bad_records_are_refused_with_what_is_wrong() -> None:
    records, correct = results(healthy())
    with pytest.raises(ValueError, match=r"records lack column\(s\) \['norm'\]"):
        masking_checks(records.drop(columns="norm"), correct, C)
    twice = pd.concat([records, records.iloc[[1]]], ignore_index=True)
    with pytest.raises(
        ValueError, match=r"duplicate record for 'fgsm' at ε=0.1 \(records of one model expected\)"
    ):
        masking_checks(twice, correct, C)
