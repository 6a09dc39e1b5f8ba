"""Job priorities (sagr.schedule): the longest remaining chain starts first, on every config."""

import importlib.util

import pytest
import torch

from conftest import REPO
from sagr import registry, schedule
from sagr.cli import check_config_files
from sagr.runs import manifest

spec = importlib.util.spec_from_file_location("bench_run_budget", REPO / "benchmarks" / "bench_run_budget.py")
budget = importlib.util.module_from_spec(spec)
spec.loader.exec_module(budget)

CONFIGS = [
    ["config.yaml"],
    ["smoke.yaml"],
    ["quick.yaml"],
    ["paper.yaml"],
    ["cifar_smoke.yaml"],
    ["config.yaml", "fashion_mnist.yaml"],
]


def _dag(costs: dict[str, dict[str, float]]) -> tuple[dict, dict]:
    """The replay's DAG of models {name: {train, evaluate seconds}} (train -> evaluate) and sagr.schedule's
    priority of each job: the chain it starts, in whole seconds."""
    jobs, prio = {}, {}
    for m, c in costs.items():
        jobs[f"train/{m}"] = (c["train"], [])
        jobs[f"evaluate/{m}"] = (c["evaluate"], [f"train/{m}"])
        for stage in ("train", "evaluate"):
            prio[f"{stage}/{m}"] = round(schedule.chain_seconds({**c, "saliency": 0.0}, stage))
    return jobs, prio


def test_the_longest_chain_starts_first_and_the_short_jobs_fill_the_end():
    # A trains fast but its evaluation is long (the reference AutoAttack); B, C, D are short chains.
    costs = {
        "A": {"train": 5.0, "evaluate": 10.0},
        "B": {"train": 4.0, "evaluate": 1.0},
        "C": {"train": 4.0, "evaluate": 1.0},
        "D": {"train": 4.0, "evaluate": 1.0},
    }
    jobs, prio = _dag(costs)
    assert prio == {
        "train/A": 15,
        "evaluate/A": 10,
        **{f"train/{m}": 5 for m in "BCD"},
        **{f"evaluate/{m}": 1 for m in "BCD"},
    }
    placed = budget.schedule(jobs, 2, prio)
    assert placed["train/A"] == (0.0, 5.0) and placed["evaluate/A"] == (5.0, 15.0)  # A's chain never waits
    # on two cores: 30 s of work, a 15 s chain -> 15 s, the lower bound
    assert budget.simulate(jobs, 2, prio) == 15.0 == budget.lower_bound(jobs, 2)
    # without priorities the order among ready jobs is arbitrary; with A's training drawn last, 20 s
    a_last = {j: int(j == "train/A") for j in jobs}
    assert budget.simulate(jobs, 2, None, a_last) == 20.0
    # the priority holds whatever order the ties are drawn in
    assert {budget.simulate(jobs, 2, prio, t) for t in budget.random_ties(jobs, 50)} == {15.0}


def test_chain_priority_is_the_job_plus_its_longest_dependent():
    costs = {"train": 100.0, "evaluate": 40.0, "saliency": 3.0}
    assert schedule.chain_seconds(costs, "train") == 140.0
    assert schedule.chain_seconds(costs, "evaluate") == 40.0
    assert schedule.chain_seconds(costs, "saliency") == 3.0
    with pytest.raises(ValueError, match="no priority for stage"):
        schedule.priority(check_config_files([REPO / "config" / "smoke.yaml"]), "report", "mnist", "x", True)


@pytest.mark.parametrize("files", CONFIGS, ids=["+".join(f) for f in CONFIGS])
def test_every_config_gets_integer_priorities_a_chain_head_above_its_tail(files):
    config = check_config_files([REPO / "config" / f for f in files])
    prio = schedule.priorities(config)
    entries = manifest(config)
    assert len(prio) == 3 * len(entries)
    for e in entries:
        p = {s: prio[f"{s}/{e.dataset}/{e.run.name}"] for s in schedule.STAGES}
        assert all(isinstance(v, int) and v >= 1 for v in p.values()), (e.run.name, p)
        assert p["train"] >= max(p["evaluate"], p["saliency"]), (e.run.name, p)


def test_default_config_starts_the_adversarially_trained_seed0_models_first():
    config = check_config_files([REPO / "config" / "config.yaml"])
    prio = schedule.priorities(config)
    trains = sorted((p, j) for j, p in prio.items() if j.startswith("train/"))
    top = {j.split("/")[2] for _, j in trains[-3:]}
    # the three 8-epoch PGD-trained methods' seed-0 models: the longest training and the reference AutoAttack
    assert {r.split("_")[0] for r in top} == {"pgd", "trades", "mart"} and all(
        r.endswith("seed0") for r in top
    )
    # the reference AutoAttack (seed 0, main comparison only) makes a seed-0 evaluation the longer one
    ev = {j.split("/")[2]: p for j, p in prio.items() if j.startswith("evaluate/")}
    assert ev["trades_bt6_K5_a0.4_seed0"] > ev["trades_bt6_K5_a0.4_seed1"] > ev["standard_seed1"]
    assert ev["standard_seed0"] > ev["standard_seed1"]


def test_step_ratio_reads_the_reference_and_falls_back_to_the_registry_goal():
    config = check_config_files([REPO / "config" / "config.yaml"])
    pgd = config["methods"]["pgd_at"]
    # benchmarks/reference/cost_small_cnn_cuda.json measured PGD-AT K=5 at 4.856 x standard
    assert schedule.step_ratio(config, "mnist", "pgd_at", pgd) == pytest.approx(4.856)
    no_ref = {**config, "benchmark": {**config["benchmark"], "reference": ["benchmarks/reference/none.json"]}}
    assert schedule.step_ratio(no_ref, "mnist", "pgd_at", {**pgd, "steps": 3}) == 4.0  # K + 1
    assert schedule.step_ratio(no_ref, "mnist", "standard", {}) == 1.0
    jr = config["methods"]["jr"]
    exact = schedule.step_ratio(no_ref, "mnist", "jr", {**jr, "estimator": "exact"})
    assert exact == pytest.approx(10 * schedule.step_ratio(no_ref, "mnist", "jr", {**jr, "n_proj": 1}))


def _mmacs(model: torch.nn.Module, c: int, s: int) -> float:
    """Multiply-accumulates (millions) of one image's forward pass: every convolution and linear layer."""
    total = 0

    def count(module, inputs, output):
        nonlocal total
        if isinstance(module, torch.nn.Conv2d):
            k = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            total += output.numel() * k
        elif isinstance(module, torch.nn.Linear):
            total += output.numel() * module.in_features

    hooks = [m.register_forward_hook(count) for m in model.modules()]
    with torch.no_grad():
        model(torch.rand(1, c, s, s))
    for h in hooks:
        h.remove()
    return total / 1e6


def test_the_arch_table_counts_the_registered_models():
    shapes = {(d.in_channels, d.image_size) for d in registry.DATASETS.values()}
    for arch in registry.ARCHS:
        for c, s in sorted(shapes):
            model = registry.arch(arch).load_factory()(10, c, s).eval()
            assert schedule.image_mmacs(arch, c, s) == pytest.approx(_mmacs(model, c, s), rel=0.01), (
                arch,
                c,
                s,
            )
