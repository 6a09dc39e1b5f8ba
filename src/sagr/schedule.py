"""Which job to start first: every train / evaluate / saliency job's CPU cost estimated from the config,
and Snakemake priorities that start the longest remaining chain first.

Snakemake (9.27, read in the installed package) starts ready jobs by ``priority`` (higher first;
snakemake/scheduling/milp.py, the default selector, weights the priorities above everything else in
its objective, and the greedy fallback, scheduling/greedy.py, ranks jobs by
``(priority, temp input size, input size)``); among equal priorities the choice is arbitrary
(scheduling/job_scheduler.py offers the ready jobs as a ``set`` of objects hashed by identity, and the
ILP has many equal optima). A rule's ``priority`` may be a function of the wildcards (rules.py,
``Rule.expand_priority``); the rules call :func:`priority` through ``job_priority`` in common.smk. Left at
the default of 0, a run starts its jobs in no order of length and can end on one long evaluation while
the other cores idle. Here every job gets the estimated CPU seconds of the longest chain it starts
(critical-path, or longest-remaining-work, list scheduling): a training job its own cost plus the larger
of its evaluation and saliency jobs, an evaluation or saliency job its own cost. The longest chains
(an adversarially trained seed-0 model and its evaluation with the reference AutoAttack) start first
and the short jobs fill the end.

The cost model counts image passes (one forward and backward pass of one image through the model):

- training: epochs × training images × the method's step cost relative to a standard step (measured
  in the config's ``benchmark.reference`` files for the same architecture, else the registry's goal,
  K + 1 for a K-step inner attack), plus the per-epoch validation PGD and the final accuracy pass;
- evaluation: every attack run of the suite (:func:`sagr.robustness.plan.plan`, the order the job runs
  them) × points × iterations; a cascade or query attack runs only on the points still robust
  (:func:`robust_share`);
- saliency: one input-gradient pass per saliency image.

Passes become seconds through the architecture's multiply-accumulates per image
(:data:`ARCH_MMACS`) and one CPU thread's throughput (:data:`GMAC_PER_S`), plus a fixed
:data:`JOB_OVERHEAD_S` per job (interpreter, torch import, data). Only the order matters to the
scheduler; seconds make the priorities readable. Torch-free: read when the Snakefile is parsed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from . import registry
from .attack_kinds import Role, attack_norm, is_cascade, role_of, suite_for_seed
from .config import recipe
from .robustness.plan import plan
from .runs import Run, decode_run, manifest

REPO = Path(__file__).resolve().parents[2]
STAGES = ("train", "evaluate", "saliency")

#: Multiply-accumulates (millions) of one forward pass of one image, per (arch, channels, image size):
#: counted with torch.utils.flop_counter.FlopCounterMode on the registered models (tests/test_schedule.py
#: recounts them). Another input size is scaled from the arch's nearest entry by its pixel count.
ARCH_MMACS: dict[tuple[str, int, int], float] = {
    ("small_cnn", 1, 28): 1.083,
    ("small_cnn", 3, 32): 2.273,
    ("small_cnn_wide", 1, 28): 3.870,
    ("small_cnn_wide", 3, 32): 7.208,
    ("preact_resnet18", 1, 28): 455.8,
    ("preact_resnet18", 3, 32): 555.4,
    ("preact_resnet18_tiny", 1, 28): 7.172,
    ("preact_resnet18_tiny", 3, 32): 8.873,
    ("wrn34_10", 1, 28): 5098.0,
    ("wrn34_10", 3, 32): 6658.9,
}
#: A forward and backward pass costs about three forward passes.
PASS_MACS = 3.0
#: A forward pass alone (a query of Square, an accuracy pass) in image passes.
FORWARD = 1.0 / PASS_MACS
#: Image passes of one FAB-T iteration (its gradient, the projection and its checks): the reference
#: AutoAttack took 1.0 CPU-s per point it ran on at ε = 0.1 (SAGR seed 0 of the default run, 174 points),
#: which with APGD-CE, APGD-T (9 targets) and Square (5000 queries) at 0.2 ms per pass leaves about 2.5.
FAB_PASSES = 2.5
#: One CPU thread's multiply-accumulate rate, GMAC/s, over a whole training step. Two measurements
#: agree: small_cnn on MNIST, PGD-AT (step ratio 4.86) 8 epochs of 59,000 images in ~420 s on the
#: 2-core development machine (README, commit 356e43e): 17 GMAC/s; PreActResNet-18 at batch 16,
#: 1.79 s per standard step on one thread (benchmarks/reference/cost_preact_resnet18_cpu.json): 15 GMAC/s.
GMAC_PER_S = 16.0
#: Seconds every job spends besides its passes (interpreter start, torch import, data, writing results):
#: a saliency job of the default run takes 2.7-4 CPU-s in all.
JOB_OVERHEAD_S = 3.0
#: Share of points still robust under the fixed attacks for a model trained on an ε budget, at an ε up
#: to its training ε (default run: MART 91-96 % under PGD-20 at ε = 0.1-0.3), and the least share
#: assumed for any model.
ROBUST_TRAINED = 0.9
ROBUST_OTHER = 0.02


def image_mmacs(arch: str, in_channels: int, image_size: int) -> float:
    """Forward multiply-accumulates (millions) of one image through ``arch`` at this input shape."""
    key = (arch, int(in_channels), int(image_size))
    if key in ARCH_MMACS:
        return ARCH_MMACS[key]
    same = [(k, v) for k, v in ARCH_MMACS.items() if k[0] == arch]
    if not same:  # an architecture added to the registry without a count: a ResNet-18 is the safe side
        same = [(k, v) for k, v in ARCH_MMACS.items() if k[0] == "preact_resnet18"]
    (_, c, s), v = min(same, key=lambda kv: abs(kv[0][1] * kv[0][2] ** 2 - in_channels * image_size**2))
    return v * (image_size / s) ** 2


def pass_seconds(config: Mapping[str, Any], dataset: str) -> float:
    """Estimated CPU seconds of one image pass (forward and backward) of ``dataset``'s model."""
    info = registry.DATASETS[dataset]
    mmacs = image_mmacs(config["datasets"][dataset]["arch"], info.in_channels, info.image_size)
    return PASS_MACS * mmacs / 1000.0 / GMAC_PER_S


# ---------------------------------------------------------------------------------------------- training


@lru_cache(maxsize=16)
def _reference_rows(paths: tuple[str, ...]) -> tuple[dict[str, Any], ...]:
    """Rows of the step-cost files (each row with its file's arch, device type and methods config)."""
    rows = []
    for p in paths:
        path = Path(p) if Path(p).is_absolute() else REPO / p
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # a missing or unreadable file only costs the estimate its measurement
        methods = data.get("provenance", {}).get("config", {}).get("methods", {})
        for r in data.get("rows", []):
            rows.append({**r, "_arch": data.get("arch"), "_device": data.get("device_type"), "_hp": methods})
    return tuple(rows)


def _reference_paths(config: Mapping[str, Any]) -> tuple[str, ...]:
    listed = tuple(config.get("benchmark", {}).get("reference", []))
    if listed:
        return listed
    return tuple(str(p) for p in sorted((REPO / "benchmarks" / "reference").glob("*.json")))


def _goal(goal: Any) -> float | None:
    """A registry cost goal as a number (``2.0``, ``"≈6"``), or None."""
    if isinstance(goal, (int, float)):
        return float(goal)
    if isinstance(goal, str):
        try:
            return float(goal.lstrip("≈~<= "))
        except ValueError:
            return None
    return None


def _variant(method: str, hp: Mapping[str, Any]) -> registry.Variant | None:
    """The benchmark variant of ``method`` that is this run's configuration (same hyper-parameters)."""
    for v in registry.method(method).bench_variants(hp):
        if all(v.hparams.get(k) == hp[k] for k in v.hparams if k in hp):
            return v
    return None


def step_ratio(config: Mapping[str, Any], dataset: str, method: str, hp: Mapping[str, Any]) -> float:
    """A training step of this method and configuration, relative to a standard step.

    The measured ratio of the same method and variant in the config's ``benchmark.reference`` files
    (the committed ones when it lists none) on the dataset's architecture, CPU before GPU for a CPU
    run; else the registry's goal; an exact estimator costs C × its projection variant.
    """
    if method == "standard":
        return 1.0
    variant = _variant(method, hp)
    label = variant.label if variant else ""
    arch = config["datasets"][dataset]["arch"]
    rows = [
        r
        for r in _reference_rows(_reference_paths(config))
        if r.get("method") == method and r.get("variant") == label and r.get("_arch") == arch
    ]
    if rows:
        device = str(config.get("device", "auto"))
        rows.sort(key=lambda r: (r["_device"] != ("cpu" if device == "cpu" else "cuda"),))
        row = rows[0]
        ratio = float(row["ratio_to_standard"])
        ref_n = row["_hp"].get(method, {}).get("n_proj", 1)
        if hp.get("n_proj") and ref_n and hp.get("estimator") != "exact":
            ratio = 1.0 + (ratio - 1.0) * float(hp["n_proj"]) / float(ref_n)
        return ratio
    goal = _goal(variant.goal) if variant else None
    if goal is not None:
        n_proj = float(hp.get("n_proj", 1) or 1)
        return 1.0 + (goal - 1.0) * n_proj
    if hp.get("estimator") == "exact":
        n_classes = registry.DATASETS[dataset].n_classes
        return n_classes * step_ratio(config, dataset, method, {**hp, "estimator": "projection", "n_proj": 1})
    goals = [g for v in registry.method(method).bench_variants(hp) if (g := _goal(v.goal)) is not None]
    return max(goals, default=1.0)


def _run(run: Run | str) -> Run:
    return run if isinstance(run, Run) else decode_run(run)


def train_passes(config: Mapping[str, Any], dataset: str, run: Run | str) -> float:
    """Image passes of one training job: its epochs, the validation PGD, the final accuracy pass."""
    run = _run(run)
    dcfg = config["datasets"][dataset]
    info = registry.DATASETS[dataset]
    rec = recipe(config, dataset, run.method)
    val = dcfg.get("validation")
    n_val = int(val["n"]) if val else 0
    n_fit = info.n_train - n_val
    if dcfg.get("train_subset"):
        n_fit = min(n_fit, int(dcfg["train_subset"]))
    epochs = int(rec["epochs"])
    passes = epochs * n_fit * step_ratio(config, dataset, run.method, run.hp)
    if val:
        passes += (epochs // max(1, int(val.get("every", 1))) or 1) * n_val * (1 + int(val["pgd_steps"]))
    return passes + (info.n_test + n_fit) * FORWARD  # test and training accuracy after training


# -------------------------------------------------------------------------------------------- evaluation


def _attack_passes(spec: Mapping[str, Any], robust: float) -> float:
    """Image passes of one attack on one point that it runs on; ``robust``: the share of those points
    an attack that stops on broken points (queries, AutoAttack's later components) still works on
    (1 for a cascade attack: its points are the ones every earlier attack left robust)."""
    kind = spec["kind"]
    restarts = int(spec.get("restarts", spec.get("n_restarts", 1)))
    if kind == "fgsm":
        return 1.0
    if kind in ("pgd", "cw_inf"):
        return float(spec["steps"]) * restarts
    if kind == "cw_l2":
        return float(spec["steps"])
    if kind == "apgd_ce":
        return float(spec["n_iter"]) * restarts
    if kind == "apgd_t":
        return float(spec["n_iter"]) * restarts * int(spec["n_target_classes"])
    if kind == "fab_t":
        return float(spec["n_iter"]) * restarts * int(spec["n_target_classes"]) * FAB_PASSES
    if kind == "square":
        return robust * float(spec["n_queries"]) * restarts * FORWARD
    if kind in ("autoattack", "autoattack_ref"):
        n_iter, targets = float(spec["n_iter"]), int(spec["n_target_classes"])
        # APGD-CE on every point, then APGD-T, FAB-T and Square on the points still robust
        later = n_iter * targets * (1 + FAB_PASSES) + float(spec["n_queries"]) * FORWARD
        return (n_iter + robust * later) * restarts
    return float(spec.get("steps", spec.get("n_iter", 1)))  # a kind added later: its iterations


def robust_share(config: Mapping[str, Any], dataset: str, method: str, eps: float | None) -> float:
    """Assumed share of points still robust at ``eps`` after the fixed attacks: :data:`ROBUST_TRAINED`
    for a model trained on an ε budget up to its training ε; else 1 - (ε / training ε)², at least
    :data:`ROBUST_OTHER` (default run, IGR, JR and SAGR under PGD-20: 87-90 % at ε = 0.1, 22-59 % at
    0.2, 0-8 % at 0.3 of MNIST's 0.3; Standard 62 %, 1 %, 0 %)."""
    if eps is None:
        return ROBUST_OTHER
    train_eps = float(config["datasets"][dataset]["train_eps"])
    if registry.method(method).trains_on_eps and eps <= train_eps * (1 + 1e-9):
        return ROBUST_TRAINED
    return max(ROBUST_OTHER, 1.0 - (eps / train_eps) ** 2) if train_eps > 0 else ROBUST_OTHER


def suite(config: Mapping[str, Any], run: Run | str, main: bool) -> dict[str, dict]:
    """The attacks one model is evaluated with (as the evaluate rule's ``attacks_for``)."""
    names = suite_for_seed(config["attacks"], _run(run).seed, main)
    return {n: config["attacks"][n] for n in names}


def evaluate_passes(config: Mapping[str, Any], dataset: str, run: Run | str, main: bool) -> float:
    """Image passes of one evaluation job: every attack run of its suite on the points it runs on."""
    run = _run(run)
    dcfg = config["datasets"][dataset]
    info = registry.DATASETS[dataset]
    n = min(int(dcfg.get("eval_subset") or info.n_test), info.n_test)
    attacks = suite(config, run, main)
    method = run.method
    total = n * FORWARD  # clean accuracy
    for step in plan(attacks, list(dcfg["eps"]), list(dcfg.get("eps_l2") or []), n):
        spec = attacks[step.attack]
        eps = step.eps[0] if attack_norm(spec["kind"]) == "linf" else None
        r = robust_share(config, dataset, method, eps)
        points = n if step.prefix is None else step.prefix
        if is_cascade(spec):  # the pool the fixed attacks left (a prefix of it for the reference)
            points = r * (min(points, n) if role_of(spec) == Role.REFERENCE.value else n)
            r = 1.0
        total += points * _attack_passes(spec, r)
    return total


def saliency_passes(config: Mapping[str, Any], dataset: str) -> float:
    """Image passes of one saliency job: an input gradient per image, and the clean pass."""
    dcfg = config["datasets"][dataset]
    return float(dcfg["saliency_images"]) * (1 + FORWARD)


# ------------------------------------------------------------------------------------------- priorities


def job_costs(config: Mapping[str, Any], dataset: str, run: Run | str, main: bool) -> dict[str, float]:
    """Estimated CPU seconds of the train, evaluate and saliency jobs of one model."""
    run = _run(run)
    s = pass_seconds(config, dataset)
    passes = {
        "train": train_passes(config, dataset, run),
        "evaluate": evaluate_passes(config, dataset, run, main),
        "saliency": saliency_passes(config, dataset),
    }
    return {stage: JOB_OVERHEAD_S + p * s for stage, p in passes.items()}


def chain_seconds(costs: Mapping[str, float], stage: str) -> float:
    """The longest chain of work that starts with ``stage``'s job (its own cost and what waits for it)."""
    if stage == "train":
        return costs["train"] + max(costs["evaluate"], costs["saliency"])
    return costs[stage]


def priority(config: Mapping[str, Any], stage: str, dataset: str, run: Run | str, main: bool) -> int:
    """Snakemake priority of one ``stage`` job: the estimated CPU seconds of the longest chain it
    starts (an integer ≥ 1, so every job stays above the rules left at the default of 0)."""
    if stage not in STAGES:
        raise ValueError(f"no priority for stage {stage!r}; expected one of {STAGES}")
    return _whole(chain_seconds(job_costs(config, dataset, run, main), stage))


def _whole(seconds: float) -> int:
    return max(1, math.ceil(seconds))


def priorities(config: Mapping[str, Any]) -> dict[str, int]:
    """``"<stage>/<dataset>/<run>"`` → priority, for every job of the config's manifest."""
    out = {}
    for e in manifest(dict(config)):
        costs = job_costs(config, e.dataset, e.run, e.main)
        for stage in STAGES:
            out[f"{stage}/{e.dataset}/{e.run.name}"] = _whole(chain_seconds(costs, stage))
    return out
