"""`sagr export`: RobustBench model-info files whose numbers are robustness.json's own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sagr import export, stats
from sagr.files import write_json


def _robustness(apgd_strength: bool = True, reference_on_all: bool = False) -> dict:
    """A robustness.json of the pipeline's shape: fixed attacks on every point, then the APGD
    cascade on the points they left; the reference AutoAttack on a prefix of that pool."""
    n = 100

    def rec(attack: str, kind: str, role: str, eps: float, k: int, n_: int = n, points: str = "all") -> dict:
        return dict(
            attack=attack,
            kind=kind,
            role=role,
            norm="linf",
            eps=eps,
            n=n_,
            n_correct=k,
            accuracy=k / n_,
            points=points,
        )

    records = [
        dict(
            attack="clean",
            kind="clean",
            role="clean",
            norm="none",
            eps=0.0,
            n=n,
            n_correct=97,
            accuracy=0.97,
            points="all",
        )
    ]
    worst = []
    for eps, k_pgd, k_final in ((0.1, 80, 71), (0.3, 40, 23)):
        records += [
            rec("pgd", "pgd", "baseline", eps, k_pgd),
            rec("apgd_ce", "apgd_ce", "strong", eps, k_final + 4, k_pgd, "cascade"),
            rec("apgd_t", "apgd_t", "strong", eps, k_final, k_final + 4, "cascade"),
        ]
        worst.append(
            dict(
                norm="linf",
                eps=eps,
                accuracy=k_final / n,
                n=n,
                n_correct=k_final,
                attacks=["pgd", "apgd_ce", "apgd_t"],
                apgd_strength=apgd_strength,
            )
        )
    ref_n, ref_points = (n, "all") if reference_on_all else (5, "cascade")
    records.append(rec("autoattack_ref", "autoattack_ref", "reference", 0.3, 4, ref_n, ref_points))
    worst.append(
        dict(
            norm="linf",
            eps=1.0,
            accuracy=0.0,
            n=16,
            n_correct=0,
            attacks=["pgd_unbounded"],
            apgd_strength=False,
        )
    )
    return dict(
        dataset="mnist",
        run="sagr_lam1_seed0",
        method="sagr",
        seed=0,
        records=records,
        worst_case=worst,
        provenance={"git_commit": "abc"},
    )


def _export(tmp_path: Path, rob: dict) -> tuple[dict, dict]:
    run = tmp_path / "results" / rob["dataset"] / rob["run"]
    run.mkdir(parents=True)
    write_json(run / "robustness.json", rob)  # as the evaluate job writes it (with its hash record)
    (path,) = export.export_run(tmp_path / "results", tmp_path / "rb")
    return json.loads(path.read_text()), json.loads((run / "robustness.json").read_text())


def test_exported_numbers_are_robustness_json_s_worst_case_at_the_largest_eps(tmp_path: Path) -> None:
    info, rob = _export(tmp_path, _robustness())
    clean = next(r for r in rob["records"] if r["attack"] == "clean")
    top = max((w for w in rob["worst_case"] if w["eps"] < 1), key=lambda w: w["eps"])
    assert info["clean_acc"] == f"{100 * clean['accuracy']:.2f}"
    assert info["eps"] == "0.3" and info["threat_model"] == "Linf"
    assert info["autoattack_acc"] == f"{100 * top['accuracy']:.2f}" and info["n_autoattack"] == top["n"]
    low, high = stats.clopper_pearson(top["n_correct"], top["n"])
    assert info["autoattack_ci"] == [f"{100 * low:.2f}", f"{100 * high:.2f}"]
    assert info["autoattack_produced_by"] == "torchattacks cascade"
    # every budget below the unbounded check, each with its components and the reference beside it
    evals = info["evaluations"]
    assert [e["eps"] for e in evals] == ["0.1", "0.3"]
    assert [c["attack"] for c in evals[-1]["components"]] == ["apgd_ce", "apgd_t"]
    assert evals[-1]["reference"] == [
        {"attack": "autoattack_ref", "accuracy": "80.00", "n": 5, "points": "cascade"}
    ]
    assert {
        "link",
        "name",
        "authors",
        "additional_data",
        "number_forward_passes",
        "dataset",
        "venue",
        "architecture",
        "eps",
        "clean_acc",
        "reported",
        "autoattack_acc",
        "footnote",
    } <= set(info)


def test_reference_autoattack_on_every_point_is_named_as_the_source(tmp_path: Path) -> None:
    info, _ = _export(tmp_path, _robustness(reference_on_all=True))
    assert info["autoattack_produced_by"] == "reference AutoAttack"


def test_a_weaker_worst_case_is_not_passed_off_as_autoattack(tmp_path: Path) -> None:
    info, rob = _export(tmp_path, _robustness(apgd_strength=False))
    assert info["autoattack_acc"] is None and info["eps"] == "0.3"
    assert "not AutoAttack-strength" in info["footnote"] and "23.00 % on n = 100" in info["footnote"]
    assert info["evaluations"][-1]["accuracy"] == "23.00"


@pytest.mark.parametrize("eps, text", [(8 / 255, "8/255"), (0.3, "0.3"), (2 / 255, "2/255")])
def test_eps_is_written_as_researchers_quote_it(eps: float, text: str) -> None:
    assert export.fmt_eps(eps) == text
