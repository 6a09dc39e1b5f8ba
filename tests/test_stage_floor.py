"""The stage floor (benchmarks/bench_stage_floor.py): jobs' measured CPU against steps × step time, on a
hand-made results tree of the smoke config."""

import importlib.util
import json
import sys

import pytest

from conftest import REPO

spec = importlib.util.spec_from_file_location(
    "bench_stage_floor", REPO / "benchmarks" / "bench_stage_floor.py"
)
floor = importlib.util.module_from_spec(spec)
spec.loader.exec_module(floor)

SMOKE = REPO / "config" / "smoke.yaml"
PGD_AT = "pgd_at_K2_a1_seed0"  # the smoke config's PGD-AT run, seed 0


def rec(attack, kind, n, left, cpu=0.0, norm="linf", **params):
    return {"attack": attack, "kind": kind, "norm": norm, "n": n, "n_correct": left, "cpu_time_s": cpu,
            "params": {"kind": kind, **params}}  # fmt: skip


RECORDS = [
    rec("clean", "clean", 64, 60),  # 64 / 3
    rec("pgd", "pgd", 64, 30, cpu=0.256, steps=20, restarts=1),  # 1,280 passes: 0.2 ms each
    rec("pgd_strong", "pgd", 64, 10, cpu=0.5, steps=10, restarts=2),  # 10 × (64 + 10)
    rec("apgd_t", "apgd_t", 20, 5, cpu=0.1, n_iter=5, n_restarts=1, n_target_classes=2),  # 5 × (20 + 5)
    rec("square", "square", 16, 4, n_queries=20, n_restarts=1),  # 16 / 3 + 4 × 20 / 3
    rec("ref", "autoattack_ref", 4, 2, n_iter=5, n_target_classes=2, n_queries=20),  # 20 + 2 × (20 + 20/3)
    rec("cw_l2", "cw_l2", 16, 3, norm="l2", steps=5),  # 80, and once only: one run serves every L2 ε
    rec("cw_l2", "cw_l2", 16, 5, norm="l2", steps=5),
    rec("apgd_ce", "apgd_ce", 0, 0, n_iter=5),  # not run: nothing left
]
PASSES = [64 / 3, 1280, 740, 125, 16 / 3 + 80 / 3, 20 + 2 * (20 + 20 / 3), 80, 0, 0]


def test_each_attack_counts_its_passes_on_the_points_it_ran_on():
    assert [floor.record_passes(r) for r in RECORDS[:7]] == pytest.approx(PASSES[:7])
    work = floor.evaluate_work({"records": RECORDS})
    assert work["passes"] == pytest.approx(sum(PASSES))
    assert work["attacks_cpu_s"] == pytest.approx(0.856)
    assert work["pgd_pass_s"] == pytest.approx(
        0.2e-3
    )  # PGD-20's rate; PGD-10 × 2 has fewer than 1,000 passes


def write(path, content):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content))


def test_the_table_sets_measured_cpu_against_steps_times_step_time(tmp_path, monkeypatch, capsys):
    results = tmp_path / "results"
    # standard: only Snakemake's benchmark file (no train.json): the config's 256 images in batches of 64
    write(results / "benchmarks" / "train" / "mnist" / "standard_seed0.tsv", "s\tcpu_time\n3.0\t2.0\n")
    prov = {"cpu_time_s": 3.6, "config": {"settings": {"batch_size": 64}}}
    write(results / "mnist" / PGD_AT / "train.json", {"epochs": 2, "n_train": 200, "provenance": prov})
    write(
        results / "mnist" / PGD_AT / "robustness.json",
        {"records": RECORDS, "provenance": {"cpu_time_s": 1.5}},
    )
    cost = {
        "arch": "small_cnn",
        "device_type": "cpu",
        "batch_size": 64,
        "rows": [
            {"method": "standard", "variant": "", "ms_per_step": 10.0},
            {"method": "pgd_at", "variant": "K=2", "ms_per_step": 30.0},
        ],
    }
    write(tmp_path / "cost.json", cost)
    out = tmp_path / "floor.json"
    argv = ["x", "--config", str(SMOKE), "--results", str(results), "--cost", str(tmp_path / "cost.json")]
    monkeypatch.setattr(sys, "argv", argv + ["--json", str(out)])
    floor.main()
    table = capsys.readouterr().out
    got = json.loads(out.read_text())
    rows = {(r["stage"], r["method"], r["suite"]): r for r in got["summary"]}
    std, pgd = rows[("train", "standard", "")], rows[("train", "pgd_at", "")]
    assert (std["measured"], std["work"], std["floor_s"], std["ratio"]) == (1, 4, 0.0, 50.0)  # 2 s / 0.04 s
    assert (pgd["work"], pgd["cpu_s"]) == (2 * 4, 3.6)  # 2 epochs of ⌈200 / 64⌉ steps
    assert pgd["ratio"] == pytest.approx(3.6 / (8 * 0.03), abs=0.01)
    ev = rows[("evaluate", "pgd_at", "main")]
    assert ev["floor_s"] == pytest.approx(round(sum(PASSES) * 0.2e-3, 1))  # at the job's own PGD rate
    assert ev["attacks_cpu_s"] == pytest.approx(0.9, abs=0.05)
    job = next(j for j in got["jobs"] if j["stage"] == "evaluate" and j["run"] == PGD_AT)
    assert job["floor_benchmark_s"] == pytest.approx(sum(PASSES) * 0.01 / 64)  # a standard step per image
    assert rows[("train", "trades", "")]["measured"] == 0  # planned, not run: listed, not counted
    assert got["totals"]["train"]["jobs"] == 2 and got["totals"]["evaluate"]["jobs"] == 1
    assert "train: 2 jobs" in table and "evaluate: 1 jobs" in table
