"""The result model: records read and write every format version, the plan picks each attack's
points without torch, and the outcome table's operations give hand-computed answers."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sagr.robustness import (
    FORMAT_VERSION,
    NOT_EVALUATED,
    AttackRecord,
    ModelResult,
    OutcomeTable,
    Points,
    discordant,
    outcome_key,
    worst_key,
)
from sagr.robustness.plan import Cascade, plan

SRC = Path(__file__).resolve().parents[1] / "src" / "sagr"


def spec(kind: str, **kw) -> dict:
    """A valid attack spec of `kind` (cheap parameters)."""
    params = {
        "fgsm": {},
        "pgd": {"steps": 2, "alpha_over_eps": 0.5, "restarts": 1, "random_start": True},
        "cw_l2": {"c": 1.0, "kappa": 0.0, "steps": 2, "lr": 0.1},
        "apgd_ce": {"n_iter": 100, "n_restarts": 1, "rho": 0.75, "eot_iter": 1},
        "apgd_t": {"n_iter": 100, "n_restarts": 1, "n_target_classes": 1, "rho": 0.75, "eot_iter": 1},
        "square": {"n_queries": 10, "p_init": 0.8, "n_restarts": 1, "loss": "margin", "resc_schedule": False},
        "autoattack_ref": {
            "version": "standard",
            "n_iter": 100,
            "n_restarts": 1,
            "n_target_classes": 9,
            "n_queries": 5000,
        },
    }[kind]
    return {"kind": kind, "budgets": "all", **params, **kw}


SUITE = {
    "fgsm": spec("fgsm"),
    "cw": spec("cw_l2", budgets="l2", subset=4),
    "pgd": spec("pgd", subset=6),
    "square": spec("square", budgets="largest", subset=5),
    "apgd_ce": spec("apgd_ce", cascade=True),
    "ref": spec("autoattack_ref", role="reference", cascade=True, budgets="largest", subset=3),
    "apgd_t": spec("apgd_t", cascade=True),
}


# ---------------------------------------------------------------------------------------- plan


def test_the_plan_needs_no_torch() -> None:
    code = "import sys, sagr.robustness.plan, sagr.robustness; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_plan_runs_fixed_attacks_then_the_reference_then_the_cascade_at_each_eps() -> None:
    steps = plan(SUITE, [0.1, 0.3], [1.0, 2.0], n=8)
    assert [(s.attack, s.eps) for s in steps] == [
        ("cw", (1.0, 2.0)),  # one C&W run serves every L2 budget
        ("fgsm", (0.1,)),
        ("pgd", (0.1,)),
        ("apgd_ce", (0.1,)),
        ("apgd_t", (0.1,)),
        ("fgsm", (0.3,)),
        ("pgd", (0.3,)),
        ("square", (0.3,)),
        ("ref", (0.3,)),  # before the torchattacks cascade: it must see the same pool
        ("apgd_ce", (0.3,)),
        ("apgd_t", (0.3,)),
    ]
    by = {(s.attack, s.eps): s for s in steps}
    assert by[("pgd", (0.1,))].points is Points.SUBSET and by[("pgd", (0.1,))].prefix == 6
    assert by[("fgsm", (0.1,))].points is Points.ALL and by[("fgsm", (0.1,))].prefix is None
    assert by[("ref", (0.3,))].prefix == 3 and by[("apgd_ce", (0.3,))].prefix is None
    # cross-checks leave the cascade's points alone; the others' breaks leave it
    assert not by[("square", (0.3,))].breaks_pool and not by[("ref", (0.3,))].breaks_pool
    assert by[("pgd", (0.3,))].breaks_pool and by[("cw", (1.0, 2.0))].budget is None
    # a subset as large as the evaluation set is every point
    assert plan({"pgd": spec("pgd", subset=8)}, [0.1], [], n=8)[0].points is Points.ALL


def test_the_cascade_runs_on_what_earlier_attacks_left_and_the_reference_on_a_prefix_of_the_pool() -> None:
    steps = {(s.attack, s.eps[0]): s for s in plan(SUITE, [0.3], [1.0], n=8)}
    clean = np.array([1, 1, 1, 1, 1, 1, 1, 0], bool)
    c = Cascade(clean)
    fgsm = np.array([1, 0, 1, 1, 1, 1, 1, 0], np.int8)
    pgd = np.array([1, 1, 0, 1, 1, 1, -1, -1], np.int8)
    square = np.array([0, 1, 1, 1, 1, -1, -1, -1], np.int8)
    assert c.points(steps[("fgsm", 0.3)]).tolist() == list(range(8))
    c.ran(steps[("fgsm", 0.3)], fgsm)
    assert c.points(steps[("pgd", 0.3)]).tolist() == list(range(6))
    c.ran(steps[("pgd", 0.3)], pgd)
    c.ran(steps[("square", 0.3)], square)  # a black-box cross-check: point 0 stays in the pool
    pool = [0, 3, 4, 5, 6]  # not wrong clean (7), not broken by FGSM (1) or PGD (2)
    assert c.points(steps[("ref", 0.3)]).tolist() == [p for p in pool if p < 3]
    c.ran(steps[("ref", 0.3)], np.array([0, -1, -1, -1, -1, -1, -1, -1], np.int8))  # no effect on the pool
    assert c.points(steps[("apgd_ce", 0.3)]).tolist() == pool
    c.ran(steps[("apgd_ce", 0.3)], np.array([1, -1, -1, 0, 1, 1, 1, -1], np.int8))
    assert c.points(steps[("apgd_t", 0.3)]).tolist() == [0, 4, 5, 6]


# ---------------------------------------------------------------------------------------- table


def rec(
    attack: str, eps: float, points: str = "all", role: str = "baseline", kind: str = "pgd", **kw
) -> AttackRecord:
    return AttackRecord(
        attack, kind, role, kw.pop("norm", "linf"), eps, np.nan, 0, 0, points, kw.pop("params", {})
    )


def table(records: list[AttackRecord], arrays: dict[str, list[int]], clean: list[int]) -> OutcomeTable:
    arr = {k: np.array(v, np.int8) for k, v in arrays.items()}
    return OutcomeTable(records, {"clean": np.array(clean, np.int8), **arr})


def test_discordant_pairs_count_only_points_both_evaluated() -> None:
    a = np.array([1, 1, 0, 0, -1, 1], np.int8)
    b = np.array([0, 1, 1, 0, 0, -1], np.int8)
    assert discordant(a, b) == (4, 1, 1)


def test_evaluation_worst_case_counts_points_a_fixed_attack_evaluated_and_the_cascade_everywhere() -> None:
    t = table(
        [
            rec("fgsm", 0.3),
            rec("sq", 0.3, "subset", "blackbox", "square"),
            rec("apgd", 0.3, "cascade", "strong"),
        ],
        {"fgsm@0.3": [1, 0, 1, 1, 0], "sq@0.3": [1, 1, 0, -1, -1], "apgd@0.3": [0, -1, 1, 1, -1]},
        clean=[1, 1, 1, 1, 0],
    )
    ((w, arr),) = t.worst_case()
    # point 0 broken by the cascade, 1 by FGSM, 2 by Square; 4 wrong clean; 3 survives everything
    assert arr.tolist() == [0, 0, 0, 1, 0] and (w.n, w.n_correct, w.accuracy) == (5, 1, 0.2)
    assert w.attacks == ["fgsm", "sq", "apgd"] and w.apgd_strength is False


def test_worst_over_a_chosen_set_is_on_the_points_the_set_shares() -> None:
    t = table(
        [rec("fgsm", 0.3), rec("pgd", 0.3, "subset"), rec("apgd", 0.3, "cascade", "strong")],
        {"fgsm@0.3": [1, 0, 1, 0], "pgd@0.3": [1, 1, -1, -1], "apgd@0.3": [1, -1, 0, -1]},
        clean=[1, 1, 1, 1],
    )
    # prefix subsets only: a point counts where both ran, even one FGSM broke (point 3)
    assert t.worst(0.3, ["fgsm", "pgd"]).tolist() == [1, 0, NOT_EVALUATED, NOT_EVALUATED]
    # with a cascade attack, what another attack broke stays broken (the cascade skipped it for that)
    assert t.worst(0.3, ["fgsm", "apgd"]).tolist() == [1, 0, 0, 0]
    assert t.has("apgd", 0.3) and not t.has("apgd", 0.1) and not t.has("nope", 0.3)


def test_the_reference_is_compared_with_the_cascade_at_every_eps_it_ran() -> None:
    """A reference at two ε on a 4-point prefix of 6 points: each ε gets its own comparison, on the
    pool the cascade started from within the prefix, with the points only the reference broke and the
    prefix it was given (the gap is measured per budget, not only at the largest)."""
    ref = {"subset": 4}
    recs = []
    arrays = {}
    # ε = 0.1: FGSM breaks point 0; the cascade (apgd) sees 1..5 and breaks 5; the reference sees the
    # pool's prefix 1..3 and breaks 2 and 3.  ε = 0.3: FGSM breaks 0, 1; apgd breaks 2; reference breaks none.
    for eps, fgsm, apgd, aa in (
        (0.1, [0, 1, 1, 1, 1, 1], [-1, 1, 1, 1, 1, 0], [-1, 1, 0, 0, -1, -1]),
        (0.3, [0, 0, 1, 1, 1, 1], [-1, -1, 0, 1, 1, 1], [-1, -1, 1, 1, -1, -1]),
    ):
        recs += [
            rec("fgsm", eps),
            rec("aa", eps, "cascade", "reference", "autoattack_ref", params=ref),
            rec("apgd", eps, "cascade", "strong", "apgd_ce"),
        ]
        arrays.update({f"fgsm@{eps:g}": fgsm, f"aa@{eps:g}": aa, f"apgd@{eps:g}": apgd})
    t = table(recs, arrays, clean=[1, 1, 1, 1, 1, 1])
    by_eps = {c.eps: c for c in t.reference_comparisons()}
    assert sorted(by_eps) == [0.1, 0.3]
    low, high = by_eps[0.1], by_eps[0.3]
    assert (low.n, low.only_reference_broke, low.only_torchattacks_broke, low.prefix_n) == (3, 2, 0, 4)
    assert (low.n_correct, low.torchattacks_n_correct) == (1, 3)
    assert (high.n, high.only_reference_broke, high.only_torchattacks_broke) == (2, 0, 1)
    assert t.reference_comparison() == high  # the stored one: the largest ε


def test_apgd_strength_needs_apgd_ce_and_apgd_t_at_full_iterations_on_every_point() -> None:
    ce, t_ = spec("apgd_ce", cascade=True), spec("apgd_t", cascade=True)
    full = [rec("a", 0.3, "cascade", params=ce), rec("b", 0.3, "cascade", params=t_)]
    assert OutcomeTable.apgd_strength(full)
    assert not OutcomeTable.apgd_strength(full[:1])
    assert not OutcomeTable.apgd_strength([full[0], rec("b", 0.3, "subset", params={**t_, "subset": 5})])
    assert not OutcomeTable.apgd_strength([full[0], rec("b", 0.3, "cascade", params={**t_, "n_iter": 10})])


# ---------------------------------------------------------------------------------------- records

# robustness.json as the evaluate job wrote it before format versions (the lead's study files
# have this shape): it must read back unchanged, less the stored prose.
V1 = {
    "dataset": "mnist",
    "run": "standard_seed0",
    "method": "standard",
    "seed": 0,
    "hparams": {},
    "n_eval": 4,
    "eval_seed": 0,
    "records": [
        {"attack": "clean", "kind": "clean", "role": "clean", "norm": "none", "eps": 0.0, "accuracy": 0.75,
         "n": 4, "n_correct": 3, "points": "all", "params": {}, "repr": "clean", "wall_time_s": 0.1,
         "cpu_time_s": None},
        {"attack": "pgd", "kind": "pgd", "role": "baseline", "norm": "linf", "eps": 0.3, "accuracy": 0.5,
         "n": 4, "n_correct": 2, "points": "all", "params": {"kind": "pgd", "steps": 2}, "repr": "PGD(...)",
         "wall_time_s": 1.0, "cpu_time_s": 0.9},
    ],
    "worst_case": [
        {"norm": "linf", "eps": 0.3, "accuracy": 0.5, "n": 4, "n_correct": 2, "attacks": ["pgd"],
         "apgd_strength": False}
    ],
    "masking": [
        {"check": "monotone_eps", "title": "t", "passed": None, "p_value": None, "alpha": 0.05,
         "n_points": 0, "detail": "not applicable: x"}
    ],
    "reference_autoattack": {
        "eps": 0.3, "reference_attack": "ref", "torchattacks_attacks": ["apgd_ce"], "points": "p", "n": 2,
        "n_correct": 1, "accuracy": 0.5, "torchattacks_n_correct": 1, "torchattacks_accuracy": 0.5,
        "only_reference_broke": 0, "only_torchattacks_broke": 0, "mcnemar_p": 1.0, "alpha": 0.05,
        "differs": False,
    },
    "autoattack_description": "prose that belongs to the report",
    "provenance": {"job": "evaluate_model", "git_commit": "abc"},
}  # fmt: skip


def test_a_version_1_file_reads_back_unchanged_without_its_prose() -> None:
    result = ModelResult.from_json(copy.deepcopy(V1))
    assert result.format_version == 1
    out = result.to_json()
    assert out.pop("format_version") == FORMAT_VERSION
    assert out == {k: v for k, v in V1.items() if k != "autoattack_description"}
    again = ModelResult.from_json(json.loads(json.dumps(result.to_json())))
    assert again == dataclasses.replace(result, format_version=FORMAT_VERSION)


def test_an_early_file_gets_its_missing_fields_derived_once() -> None:
    early = {
        "dataset": "mnist",
        "run": "r",
        "n_eval": 10,
        "records": [
            {"attack": "clean", "norm": "none", "accuracy": 0.9},
            {"attack": "sq", "kind": "square", "eps": 0.3, "accuracy": 0.5, "n": 4},
            {"attack": "aa", "kind": "autoattack", "eps": 0.3, "accuracy": 0.2},
        ],
        "worst_case": [{"eps": 0.3, "accuracy": 0.2, "attacks": ["sq", "aa"]}],
        "masking": [{"check": "c", "passed": True, "detail": {"k": 1}}],
    }
    r = ModelResult.from_json(early)
    clean, sq, aa = r.records
    assert (clean.n, clean.n_correct, clean.points, clean.role) == (10, 9, "all", None)
    assert (sq.role, sq.points, sq.n_correct, sq.norm) == ("blackbox", "subset", 2, "linf")
    assert (aa.role, aa.points, aa.n) == ("strong", "all", 10)
    w = r.worst_case[0]
    assert (w.norm, w.n, w.n_correct, w.apgd_strength) == ("linf", 10, 2, True)  # AutoAttack by its kind
    m = r.masking[0]
    assert m.title == "c" and json.loads(m.detail) == {"k": 1} and np.isnan(m.p_value)
    assert r.reference is None and r.status == "ok"


def test_a_file_from_newer_code_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="format 99"):
        ModelResult.from_json({**V1, "format_version": 99})


def test_result_keys_are_spelled_in_the_records_module_only() -> None:
    """robustness.json's and correct.npz's own keys appear in sagr.robustness.records and nowhere else."""
    keys = re.compile(
        r'"(reference_autoattack|autoattack_description|format_version)"|@\{[^}]*:g\}|"worst@|"worst_l2'
        r'|\.get\("(worst_case|records|masking)"'
    )
    where = [
        p.relative_to(SRC).as_posix()
        for p in SRC.rglob("*.py")
        if keys.search(p.read_text()) and p.relative_to(SRC).as_posix() != "robustness/records.py"
    ]
    assert where == [], where
    assert outcome_key("pgd", 8 / 255) == "pgd@0.0313725" and outcome_key("clean", 0.0) == "clean"
    assert worst_key("linf", 0.3) == "worst@0.3" and worst_key("l2", 0.5) == "worst_l2@0.5"
