"""The interleaved step benchmark and the estimator-noise measurement, on a tiny model."""

import torch
from torch import nn

from sagr.benchmark import benchmark, estimator_noise, format_noise, format_table, variants
from sagr.estimators import ESTIMATORS


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
