"""`sagr export`: RobustBench model-info files whose numbers are robustness.json's own."""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import pytest

from sagr import cli, export, files, stats
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


def _tree(results: Path, accuracy: float) -> None:
    """Three runs' robustness.json (with hash records), their clean accuracy ``accuracy``."""
    for run in ("a_seed0", "b_seed0", "c_seed0"):
        rob = _robustness()
        rob["run"] = run
        rob["records"][0].update(accuracy=accuracy, n_correct=round(100 * accuracy))
        write_json(results / "mnist" / run / "robustness.json", rob)


def _files(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("damage", ["byte flipped", "truncated"])
def test_a_damaged_result_leaves_the_export_as_it_was_and_names_the_run_s_rebuild_command(
    tmp_path: Path, monkeypatch, capsys, damage: str
) -> None:
    """Issue 27: the export wrote the runs before a damaged one, and its rebuild command had no
    --configfile. The run's config files come from the file's hash record, written by its job."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(files.CONFIGFILES_ENV, json.dumps(["config/smoke.yaml"]))  # as the run's jobs
    _tree(Path("results"), 0.97)
    export.export_run("results", "rb")
    before = _files(Path("rb"))
    _tree(Path("results"), 0.5)  # a later run: every export would change
    monkeypatch.delenv(files.CONFIGFILES_ENV)  # `sagr export` runs outside Snakemake
    bad = Path("results/mnist/b_seed0/robustness.json")
    raw = bytearray(bad.read_bytes())
    if damage == "byte flipped":
        raw[len(raw) // 2] ^= 0x01
    else:
        del raw[-20:]
    bad.write_bytes(bytes(raw))
    assert cli.main(["export", "--results", "results", "--out", "rb"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"sagr export: {bad}: file is damaged"), err
    assert f"snakemake --cores all --configfile config/smoke.yaml --forcerun {bad}" in err, err
    assert _files(Path("rb")) == before
    # a file whose record holds no list (written outside a run): the list given to the command
    write_json(bad, _robustness())
    bad.write_bytes(bad.read_bytes()[:-5])
    monkeypatch.setenv(files.CONFIGFILES_ENV, "")  # restored after the test (use_configfiles sets it)
    args = "export --results results --out new --configfile config/a.yaml config/b.yaml".split()
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert f"--configfile config/a.yaml config/b.yaml --forcerun {bad}" in err, err
    assert not Path("new").exists()


def test_a_failed_write_leaves_the_export_as_it_was(tmp_path: Path, monkeypatch) -> None:
    _tree(tmp_path / "results", 0.97)
    export.export_run(tmp_path / "results", tmp_path / "rb")
    before = _files(tmp_path / "rb")
    _tree(tmp_path / "results", 0.5)
    new_dataset = tmp_path / "results" / "cifar10" / "d_seed0"  # its export would make a new folder
    new_dataset.mkdir(parents=True)
    for name in ("robustness.json", "robustness.json.sha256"):
        shutil.copy2(tmp_path / "results" / "mnist" / "a_seed0" / name, new_dataset)
    calls = []

    def full_disk_on_the_third(path, obj):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        files.dump_json(path, obj)

    monkeypatch.setattr(export, "dump_json", full_disk_on_the_third)
    with pytest.raises(OSError, match="No space left on device: .*b_seed0.json"):
        export.export_run(tmp_path / "results", tmp_path / "rb")
    assert _files(tmp_path / "rb") == before and not (tmp_path / "rb" / "cifar10").exists()
