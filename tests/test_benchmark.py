"""The interleaved step benchmark and the estimator-noise measurement, on a tiny model."""

from pathlib import Path

import pytest
import torch
import yaml
from torch import nn

from sagr.benchmark import benchmark, estimator_noise, format_noise, format_table, measured_on, variants
from sagr.estimators import ESTIMATORS

REPO = Path(__file__).resolve().parents[1]


def tiny():
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))


def data(n=8):
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, 8, 8, generator=g), torch.randint(0, 5, (n,), generator=g)


def test_every_estimator_of_jr_and_decoupled_sagr_is_a_variant():
    labels = {
        (m, v.label) for m, v in variants({"jr": {"estimator": "projection"}, "sagr": {"form": "decoupled"}})
    }
    assert {("jr", e) for e in ESTIMATORS} <= labels
    assert {("sagr", f"decoupled-{e}") for e in ESTIMATORS} | {("sagr", "coupled")} <= labels


def test_benchmark_rows_ratios_and_exact_goal():
    x, y = data()
    hp = {"lam": 1.0, "estimator": "projection", "n_proj": 1}
    rows = benchmark(tiny, x, y, {"jr": hp}, steps=3, warmup=1)
    by = {(r["method"], r["variant"]): r for r in rows}
    assert by[("standard", "")]["ratio_to_standard"] == 1.0
    assert all(r["n_steps"] == 3 and r["ms_per_step"] > 0 for r in rows)
    assert all(r["ratio_iqr"][0] <= r["ratio_to_standard"] <= r["ratio_iqr"][1] for r in rows)
    # The exact estimator is C vector-Jacobian products: its goal is C× the projection step.
    assert by[("jr", "exact")]["goal"] == round(5 * by[("jr", "projection")]["ratio_to_standard"], 2)
    assert "jr" in format_table(rows)


def test_estimator_noise_measures_unbiased_random_estimators():
    x, y = data(4)
    torch.manual_seed(0)
    noise = estimator_noise(tiny(), x, y, draws=300, generator=torch.Generator().manual_seed(0))
    assert [r["estimator"] for r in noise] == [e for e in ESTIMATORS if e != "exact"]
    for r in noise:
        assert r["rel_sd_per_draw_median"] > 0.01  # random, not exact in disguise
        # Unbiased: the average of 300 draws is within a few standard errors (sd/√300) of exact.
        assert r["mean_rel_error_of_average"] < 4 * r["rel_sd_per_draw_iqr"][1] / 300**0.5
    assert "jvp" in format_noise(noise)


def test_measured_on_marks_every_row_with_its_machine_and_source():
    result = {
        "arch": "preact_resnet18",
        "device": "cuda:NVIDIA H200",
        "device_type": "cuda",
        "threads": 1,
        "batch_size": 64,
        "rows": [{"method": "standard", "variant": "", "ratio_to_standard": 1.0}],
        "noise": [{"estimator": "jvp", "draws": 5}],
        "provenance": {"git_commit": "abc1234", "git_dirty": True},
    }
    rows, noise = measured_on(result, "benchmarks/reference/x.json")
    where = {
        "arch": "preact_resnet18",
        "device": "cuda",
        "device_name": "cuda:NVIDIA H200",
        "threads": 1,
        "reference": "benchmarks/reference/x.json",
        "commit": "abc1234",
        "commit_dirty": True,
    }
    assert rows == [
        {"method": "standard", "variant": "", "ratio_to_standard": 1.0, "batch_size": 64, **where}
    ]
    assert noise == [{"estimator": "jvp", "draws": 5, **where}]
    own, _ = measured_on(result)
    assert own[0]["reference"] == ""  # this run's own measurement names no file


@pytest.mark.parametrize("name", ["config.yaml", "paper.yaml"])
def test_committed_reference_benchmarks_cover_both_architectures(name):
    paths = yaml.safe_load((REPO / "config" / name).read_text())["benchmark"]["reference"]
    archs = set()
    for path in paths:
        ref = yaml.safe_load((REPO / path).read_text())  # JSON is YAML
        assert ref["provenance"]["job"] == "bench_methods"  # what the tool wrote, provenance intact
        assert ref["provenance"]["git_commit"] and ref["provenance"]["config"]["argv"]
        rows, noise = measured_on(ref, path)
        assert rows[0]["method"] == "standard" and rows[0]["ratio_to_standard"] == 1.0
        assert {r["estimator"] for r in noise} == {"projection", "jvp"}
        archs.add(ref["arch"])
    assert archs == {"small_cnn", "preact_resnet18"}


def test_benchmark_job_merges_committed_references_each_naming_its_file(smoke_config, tmp_path, monkeypatch):
    from sagr import jobs

    torch.manual_seed(0)
    from sagr.config import benchmark_settings, execution, load, read_settings

    monkeypatch.setattr(jobs, "_build", lambda root, dataset, arch: tiny())
    monkeypatch.setattr(jobs.cache, "load", lambda root, dataset, train: data(8))
    config = load(smoke_config)
    config["device"] = "cpu"
    config["methods"] = {"standard": {}, "jr": {"lam": 1.0, "estimator": "projection", "n_proj": 1}}
    config["benchmark"].update(dataset="mnist", batch_size=8, steps=2, warmup=0, noise_draws=3)
    committed = REPO / "benchmarks" / "reference" / "cost_preact_resnet18_cuda.json"  # as the rule passes it
    settings = read_settings(benchmark_settings(config))  # as the rule passes them
    out = jobs.benchmark_job(settings, execution(config), tmp_path / "cost.json", [committed])
    ref = yaml.safe_load(committed.read_text())
    own = [r for r in out["rows"] if not r["reference"]]
    merged = [r for r in out["rows"] if r["reference"]]
    assert {r["arch"] for r in own} == {smoke_config["datasets"]["mnist"]["arch"]}
    assert {(r["device"], r["threads"]) for r in own} == {("cpu", torch.get_num_threads())}
    # the reference's rows unchanged, each naming its file (relative to the checkout) and commit
    assert [r["ratio_to_standard"] for r in merged] == [r["ratio_to_standard"] for r in ref["rows"]]
    assert {r["reference"] for r in merged} == {"benchmarks/reference/cost_preact_resnet18_cuda.json"}
    assert {(r["arch"], r["device_name"], r["commit"]) for r in merged} == {
        ("preact_resnet18", ref["device"], ref["provenance"]["git_commit"])
    }
    assert len([n for n in out["noise"] if n["reference"]]) == len(ref["noise"])
    assert set(out["goals"]) == {"jr/projection", "jr/jvp", "jr/exact"}  # this run's goals only
    assert out["goals"]["jr/exact"] == next(r["goal"] for r in own if r["variant"] == "exact")
