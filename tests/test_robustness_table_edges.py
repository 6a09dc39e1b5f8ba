"""The outcome table on the inputs where a wrong point set or count would change a number: a budget
where only cascade attacks ran (a point wrong clean is then attacked by none of them), a chosen set
without a fixed attack, the reference compared with a torchattacks AutoAttack that is not a
cascade, a reference whose prefix holds only points already broken, the records the runner writes
and the loader's table reads back, and the worst cases correct.npz stores. Every expected value is
counted by hand per point (or by a direct formula). Written to kill the mutants of
robustness/table.py that survived `benchmarks/mutation_score.py`."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from sagr.attack_kinds import ATTACK_REGISTRY
from sagr.robustness import INDICES, NOT_EVALUATED, AttackRecord, OutcomeTable, as_float, discordant
from sagr.robustness.table import mcnemar_exact
from test_robustness import V1, rec, spec, table

NE = NOT_EVALUATED


def default_role(kind: str) -> str:
    return ATTACK_REGISTRY[kind].default_role.value


# ------------------------------------------------------------------ McNemar and discordant pairs


def mcnemar_by_hand(b: int, c: int) -> float:
    """Two-sided exact McNemar: twice the smaller binomial(b + c, ½) tail, at most 1; 1 without discordance."""
    n = b + c
    if n == 0:
        return 1.0
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2**n)


def test_mcnemar_exact_is_twice_the_smaller_binomial_tail() -> None:
    for b in range(13):
        for c in range(13):
            assert mcnemar_exact(b, c) == pytest.approx(mcnemar_by_hand(b, c), rel=1e-9, abs=0), (b, c)
    assert mcnemar_exact(0, 0) == 1.0  # no discordant point: no evidence, and a p-value is at most 1


def test_discordant_pairs_count_each_kind_of_pair_on_the_points_both_evaluated() -> None:
    # 3 points correct only in a, 1 only in b, 2 in both, 4 in neither; 5 with a side not evaluated
    pairs = (
        [(1, 0)] * 3 + [(0, 1)] + [(1, 1)] * 2 + [(0, 0)] * 4 + [(NE, 0), (NE, 1), (1, NE), (0, NE), (NE, NE)]
    )
    a, b = (np.array(side, np.int8) for side in zip(*pairs, strict=True))
    assert discordant(a, b) == (10, 3, 1)
    assert discordant(b, a) == (10, 1, 3)


def test_as_float_gives_nan_where_not_evaluated() -> None:
    out = as_float(np.array([1, 0, NE, 1], np.int8))
    assert out.dtype.kind == "f"
    assert out[[0, 1, 3]].tolist() == [1.0, 0.0, 1.0] and np.isnan(out[2])


# ------------------------------------------------------------------ the records the runner writes


def test_the_clean_record_is_the_one_the_file_format_holds() -> None:
    """V1's clean record (4 points, 3 correct, 0.1 s) is what `start` writes for the same outcomes."""
    t = OutcomeTable.start(np.array([True, False, True, True]), 0.1)
    assert t.records == [AttackRecord.from_json(V1["records"][0], V1["n_eval"])]
    assert t.clean.tolist() == [1, 0, 1, 1] and t.attacks() == []


def test_an_attack_measured_on_a_prefix_counts_points_wrong_clean_as_broken() -> None:
    t = OutcomeTable.start(np.array([True, True, False, True, True]), 0.0)
    pgd = spec("pgd", subset=4)
    r = t.measured(
        "pgd", pgd, 0.3, np.arange(4), np.array([True, False, True, True]), "subset",
        repr="PGD", wall_time_s=1.0, cpu_time_s=0.5,
    )  # fmt: skip
    # point 1 broken, point 2 wrong clean (broken whatever the attack did), point 4 beyond the prefix
    expected = [1, 0, 0, 1, NE]
    assert t.outcome(r).tolist() == expected and t.outcome("pgd", 0.3).tolist() == expected
    assert t.outcome("clean").tolist() == [1, 1, 0, 1, 1]
    assert (r.attack, r.kind, r.role, r.norm, r.eps) == ("pgd", "pgd", default_role("pgd"), "linf", 0.3)
    assert (r.n, r.n_correct, r.accuracy, r.points) == (4, 2, 0.5, "subset")
    assert (r.repr, r.wall_time_s, r.cpu_time_s) == ("PGD", 1.0, 0.5)


# ------------------------------------------------------------------ the worst case


def test_no_attacks_cover_every_point_and_break_none() -> None:
    t = table([rec("ce", 0.3, "cascade", "strong", "apgd_ce")], {"ce@0.3": [1, 0, NE, 1]}, clean=[1, 1, 0, 1])
    for every in (True, False):
        covered = t.covered([], every=every)
        assert covered.dtype == bool and covered.tolist() == [True] * 4
    assert (~t.broken([])).tolist() == [True] * 4  # a per-point mask callers negate
    assert t.broken([], with_clean=True).tolist() == [False, False, True, False]
    assert OutcomeTable.apgd_strength([]) is False


def test_a_point_wrong_clean_is_broken_by_the_attacks_only_with_clean() -> None:
    """A cascade attack never runs on a point wrong clean: the attacks did not break it, the clean did."""
    t = table([rec("ce", 0.3, "cascade", "strong", "apgd_ce")], {"ce@0.3": [1, 0, NE, 1]}, clean=[1, 1, 0, 1])
    ce = t.attacks()
    assert t.broken(ce).tolist() == [False, True, False, False]
    assert t.broken(ce, with_clean=True).tolist() == [False, True, True, False]


def test_at_a_budget_where_only_cascade_attacks_ran_a_point_wrong_clean_counts_as_broken() -> None:
    t = table(
        [rec("ce", 0.3, "cascade", "strong", "apgd_ce"), rec("t", 0.3, "cascade", "strong", "apgd_t")],
        {"ce@0.3": [1, 0, NE, 1, 1], "t@0.3": [1, NE, NE, 0, 1]},
        clean=[1, 1, 0, 1, 1],
    )
    ((w, arr),) = t.worst_case()
    # 0 and 4 survive both; 1 broken by APGD-CE, 3 by APGD-T; 2 wrong clean, attacked by neither
    assert arr.tolist() == [1, 0, 0, 0, 1]
    assert (w.n, w.n_correct, w.accuracy) == (5, 2, 2 / 5)
    # Over the set of the two attacks alone, point 2 is one neither ran on: not evaluated by the set
    # (points 1 and 3 count: a cascade attack skipped them because the other one broke them).
    assert t.worst(0.3, ["ce", "t"]).tolist() == [1, 0, NE, 0, 1]


def test_the_stored_worst_cases_are_the_evaluations_per_norm_and_eps() -> None:
    t = table(
        [rec("fgsm", 0.3, kind="fgsm"), rec("cw", 0.5, norm="l2", kind="cw_l2")],
        {"fgsm@0.3": [1, 0, 0, 1], "cw@0.5": [0, 1, 0, 1]},
        clean=[1, 1, 0, 1],
    )
    assert t.stored_worst("linf", 0.3) is None  # not in this table's arrays (older files)
    indices = np.array([7, 3, 11, 2])
    npz = t.npz_arrays(indices)
    assert npz[INDICES].tolist() == [7, 3, 11, 2]
    stored = OutcomeTable(t.records, npz)
    assert stored.stored_worst("linf", 0.3).tolist() == [1, 0, 0, 1]
    assert stored.stored_worst("l2", 0.5).tolist() == [0, 1, 0, 1]
    assert stored.stored_worst("linf", 0.5) is None and stored.stored_worst("l2", 0.3) is None


# ------------------------------------------------------------------ the reference cross-check


def test_the_reference_is_compared_with_the_cascade_on_the_pool_prefix_it_was_given() -> None:
    """6 points, point 5 wrong clean; the reference is given the pool's points among the first 3.
    ε = 0.1: FGSM breaks none; pool {0..4}; the reference runs on {0, 1, 2} and breaks 2; APGD-CE
    breaks 4, APGD-T breaks 3. Shared {0, 1, 2}: only the reference broke 2.
    ε = 0.3: FGSM breaks 1; pool {0, 2, 3, 4}; the reference runs on {0, 2} and breaks 0; APGD-CE
    breaks 2, APGD-T (on {0, 3, 4}) breaks 4. Shared {0, 2}: each side broke one point alone."""
    ref = spec("autoattack_ref", role="reference", cascade=True, subset=3)
    recs, arrays = [], {}
    for eps, fgsm, aa, ce, t_ in (
        (0.1, [1, 1, 1, 1, 1, 0], [1, 1, 0, NE, NE, NE], [1, 1, 1, 1, 0, NE], [1, 1, 1, 0, NE, NE]),
        (0.3, [1, 0, 1, 1, 1, 0], [0, NE, 1, NE, NE, NE], [1, NE, 0, 1, 1, NE], [1, NE, NE, 1, 0, NE]),
    ):
        recs += [
            rec("fgsm", eps, kind="fgsm"),
            rec("aa", eps, "cascade", "reference", "autoattack_ref", params=ref),
            rec("ce", eps, "cascade", "strong", "apgd_ce"),
            rec("t", eps, "cascade", "strong", "apgd_t"),
        ]
        arrays.update({f"fgsm@{eps:g}": fgsm, f"aa@{eps:g}": aa, f"ce@{eps:g}": ce, f"t@{eps:g}": t_})
    t = table(recs, arrays, clean=[1, 1, 1, 1, 1, 0])
    low, high = t.reference_comparison(0.1), t.reference_comparison(0.3)
    assert (low.eps, high.eps) == (0.1, 0.3)
    assert t.reference_comparisons() == [low, high]
    for c in (low, high):
        assert c.reference_attack == "aa" and c.torchattacks_attacks == ["ce", "t"]
        assert c.prefix_n == 3
        assert "pool" in c.points and "3" in c.points  # the cascade's pool, and the prefix given
        assert c.differs == (c.mcnemar_p < c.alpha)
    assert (low.n, low.only_reference_broke, low.only_torchattacks_broke) == (3, 1, 0)
    assert (low.n_correct, low.torchattacks_n_correct) == (2, 3)
    assert (high.n, high.only_reference_broke, high.only_torchattacks_broke) == (2, 1, 1)
    assert (high.n_correct, high.torchattacks_n_correct, high.accuracy) == (1, 1, 1 / 2)
    assert high.mcnemar_p == pytest.approx(mcnemar_by_hand(1, 1)) and low.mcnemar_p == pytest.approx(
        mcnemar_by_hand(1, 0)
    )


def test_a_torchattacks_autoattack_outside_the_cascade_is_compared_where_all_its_runs_and_the_reference_ran() -> (
    None
):
    """10 points, point 9 wrong clean. Two torchattacks AutoAttack runs (first 8 and first 7 points)
    and the reference on every point. Points both sides evaluated: 0..6 (where both runs ran). The
    reference breaks 0..5 there, torchattacks none (its break of point 7 is outside): b = 6, c = 0,
    p = 2 / 2⁶ < 0.05. FGSM is not the torchattacks side."""
    t = table(
        [
            rec("fgsm", 0.3, kind="fgsm"),
            rec("aa8", 0.3, "subset", "strong", "autoattack", params={"subset": 8}),
            rec("aa7", 0.3, "subset", "strong", "autoattack", params={"subset": 7}),
            rec("ref", 0.3, "all", "reference", "autoattack_ref"),
        ],
        {
            "fgsm@0.3": [1, 1, 1, 1, 1, 1, 1, 1, 0, 0],
            "aa8@0.3": [1, 1, 1, 1, 1, 1, 1, 0, NE, NE],
            "aa7@0.3": [1, 1, 1, 1, 1, 1, 1, NE, NE, NE],
            "ref@0.3": [0, 0, 0, 0, 0, 0, 1, 1, 1, 0],
        },
        clean=[1] * 9 + [0],
    )
    c = t.reference_comparison()
    assert c.reference_attack == "ref" and c.torchattacks_attacks == ["aa8", "aa7"]
    assert (c.n, c.only_reference_broke, c.only_torchattacks_broke) == (7, 6, 0)
    assert (c.n_correct, c.torchattacks_n_correct, c.torchattacks_accuracy) == (1, 7, 1.0)
    assert c.prefix_n == 10
    assert (
        c.mcnemar_p == pytest.approx(2 / 2**6) and c.differs is True and c.differs == (c.mcnemar_p < c.alpha)
    )
    assert c.points and "pool" not in c.points  # not the cascade's pool


def test_a_reference_given_only_points_already_broken_compares_no_points() -> None:
    """FGSM breaks points 0-2; the reference is given the first 3 points of the pool: none."""
    ref = spec("autoattack_ref", role="reference", cascade=True, subset=3)
    t = table(
        [
            rec("fgsm", 0.3, kind="fgsm"),
            rec("aa", 0.3, "cascade", "reference", "autoattack_ref", params=ref),
            rec("ce", 0.3, "cascade", "strong", "apgd_ce"),
        ],
        {"fgsm@0.3": [0, 0, 0, 1, 1, 1], "aa@0.3": [NE] * 6, "ce@0.3": [NE, NE, NE, 1, 0, 1]},
        clean=[1] * 6,
    )
    c = t.reference_comparison()
    assert (
        c.n,
        c.n_correct,
        c.torchattacks_n_correct,
        c.only_reference_broke,
        c.only_torchattacks_broke,
    ) == (
        0,
        0,
        0,
        0,
        0,
    )
    assert math.isnan(c.accuracy) and math.isnan(c.torchattacks_accuracy)
    assert c.mcnemar_p == 1.0 and c.differs is False and c.prefix_n == 3


# ------------------------------------------------------------------ the loader's records table


def test_records_read_back_from_the_loaders_table_as_they_were_written() -> None:
    """Rows as `sagr.results` builds them (params as JSON text): each reads back to its record."""
    written = [
        AttackRecord("clean", "clean", "clean", "none", 0.0, 0.75, 4, 3, "all", {}),
        AttackRecord("pgd", "pgd", "baseline", "linf", 0.3, 0.5, 2, 1, "subset", spec("pgd", subset=2)),
        AttackRecord(
            "ce", "apgd_ce", "strong", "linf", 0.3, 2 / 3, 3, 2, "cascade", spec("apgd_ce", cascade=True)
        ),
        AttackRecord("aa", "autoattack_ref", "reference", "linf", 0.3, 1.0, 1, 1, "cascade", {"subset": 1}),
        AttackRecord("cw", "cw_l2", "baseline", "l2", 0.5, 0.25, 4, 1, "all", spec("cw_l2")),
    ]
    frame = pd.DataFrame(
        [
            dict(
                attack=r.attack, kind=r.kind, role=r.role, norm=r.norm, eps=r.eps, accuracy=r.accuracy, n=r.n,
                n_correct=r.n_correct, points=r.points, params=json.dumps(r.params, sort_keys=True),
            )
            for r in written
        ]
    )  # fmt: skip
    # PGD on the first 2 points; APGD-CE on the pool it left {0, 2, 3}; the reference on its first point
    arrays = {
        "clean": [1, 0, 1, 1],
        "pgd@0.3": [1, 0, NE, NE],
        "ce@0.3": [1, NE, 0, 1],
        "aa@0.3": [1, NE, NE, NE],
        "cw@0.5": [0, 0, 0, 1],
    }
    t = OutcomeTable.from_frame(frame, arrays)
    assert t.records == written
    assert t.reference_comparison().prefix_n == 1  # read from the reference's params


def test_a_hand_made_records_table_gets_the_documented_defaults() -> None:
    """Without kind, role, norm, points, params, accuracy, n columns: kind is the attack, its role the
    kind's default, L∞, all points, no parameters, accuracy NaN, no counts."""
    t = OutcomeTable.from_frame(pd.DataFrame({"attack": ["pgd", "apgd_ce"], "eps": [0.3, 0.3]}), {})
    assert [(r.attack, r.kind, r.role, r.norm, r.points, r.params, r.n, r.n_correct) for r in t.records] == [
        ("pgd", "pgd", default_role("pgd"), "linf", "all", {}, None, None),
        ("apgd_ce", "apgd_ce", default_role("apgd_ce"), "linf", "all", {}, None, None),
    ]
    assert all(isinstance(r.accuracy, float) and math.isnan(r.accuracy) for r in t.records)
    assert [r.attack for r in t.at("linf", 0.3)] == ["pgd", "apgd_ce"]


def test_empty_cells_of_a_records_table_get_the_documented_defaults() -> None:
    """Rows of older files next to newer ones: an empty kind, role, points or params cell."""
    frame = pd.DataFrame(
        {
            "attack": ["pgd", "x"],
            "kind": [np.nan, "apgd_ce"],
            "role": [np.nan, "reference"],
            "norm": ["linf", "linf"],
            "eps": [0.3, 0.3],
            "points": [np.nan, "cascade"],
            "params": [np.nan, json.dumps({"subset": 2})],
        }
    )
    t = OutcomeTable.from_frame(frame, {})
    assert [(r.kind, r.role, r.points, r.params) for r in t.records] == [
        ("pgd", default_role("pgd"), "all", {}),
        ("apgd_ce", "reference", "cascade", {"subset": 2}),
    ]
