"""A small fake results tree in the pipeline's file formats, with known numbers, for the report."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sagr.files import atomic_path, write_json
from sagr.robustness import outcome_key

DATASETS = {
    "mnist": {"channels": 1, "eps": [0.1, 0.2, 0.3], "l2": [1.0, 2.0], "foreground": True},
    "cifar10": {"channels": 3, "eps": [2 / 255, 4 / 255, 8 / 255], "l2": [0.25, 0.5], "foreground": False},
}
METHODS = ["standard", "pgd_at", "sagr"]
# the default run's seven methods (the first three as above): for layout tests at the real size
ALL_METHODS = METHODS + ["trades", "mart", "igr", "jr"]
SEEDS = [0, 1]
BETA_SWEEP = [0.0, 0.5, 1.0]  # 0.5 is the default: the main SAGR run is the sweep's middle point
# projection is the default (the main SAGR runs, both seeds); jvp's worst case (over the ablation
# suite) differs from projection's by JVP_SHIFT[ε index]: inside its interval, outside, inside
ESTIMATOR_SWEEP = ["projection", "jvp"]
JVP_SHIFT = [-0.01, -0.10, 0.0]
N_EVAL, N_SUBSET, K_MAPS = 500, 200, 4
LINF_ALL_EPS = ["fgsm", "pgd", "cw_inf"]  # run at every ε
LINF_LARGEST = ["pgd_strong", "autoattack", "square"]  # run at the largest ε only
SUBSET_ATTACKS = {"autoattack", "square"}
CHECKS = {
    "monotone_eps": "Accuracy never rises as ε grows (fixed attack)",
    "unbounded_zero": "Unbounded (ε = 1, L∞) attack reaches 0% accuracy",
    "blackbox_not_stronger": "Black-box Square is not clearly stronger than white-box attacks",
    "more_steps_no_gain": "More PGD steps/restarts never raise accuracy",
}
FAILED = ("mnist", "sagr", 1, "monotone_eps")  # the one model with a failed masking check
# each attack's spec as the pipeline records it in `params` (the validated config entry, ε aside)
_PGD = {"steps": 40, "alpha_over_eps": 0.1, "restarts": 1, "random_start": True, "cascade": False}
_AA = {"version": "standard", "n_iter": 100, "n_restarts": 1, "n_target_classes": 9, "n_queries": 5000}
ATTACK_SPECS = {
    "fgsm": {"kind": "fgsm", "role": "baseline", "budgets": "all", "cascade": False},
    "pgd": {"kind": "pgd", "role": "baseline", "budgets": "all", **_PGD},
    "cw_inf": {"kind": "cw_inf", "role": "baseline", "budgets": "all", **_PGD},
    "pgd_strong": {
        "kind": "pgd",
        "role": "strong",
        "budgets": "largest",
        **_PGD,
        "steps": 100,
        "restarts": 2,
    },
    "autoattack": {"kind": "autoattack", "role": "strong", "budgets": "largest", "subset": N_SUBSET, **_AA},
    "square": {
        "kind": "square",
        "role": "blackbox",
        "budgets": "largest",
        "subset": N_SUBSET,
        **{"n_queries": 1000, "p_init": 0.8, "n_restarts": 1, "loss": "margin", "resc_schedule": False},
    },
    "pgd_unbounded": {"kind": "pgd", "role": "unbounded", "budgets": [1.0], **_PGD},
    "cw_l2": {
        "kind": "cw_l2",
        "role": "baseline",
        "budgets": "l2",
        "c": 1.0,
        "kappa": 0.0,
        "steps": 100,
        "lr": 0.01,
    },
}
ABLATION_ATTACKS = ("clean", "fgsm", "pgd")  # the off-default sweep points get only these
REFERENCE_DIFFERS = ("mnist", "pgd_at", 1)  # the one model whose reference AutoAttack differs
METHOD_BASE = {
    "standard": 0.30,
    "pgd_at": 0.80,
    "sagr": 0.60,
    "trades": 0.78,
    "mart": 0.79,
    "igr": 0.55,
    "jr": 0.57,
}
ATTACK_DROP = {
    "fgsm": 0.00,
    "pgd": 0.05,
    "cw_inf": 0.07,
    "pgd_strong": 0.09,
    "autoattack": 0.11,
    "square": 0.04,
}


def run_name(method: str, seed: int, beta: float = 0.5, estimator: str = "projection") -> str:
    """The run directory name, spelling out what made the model."""
    if method == "sagr":
        return f"sagr-lam0.1-beta{beta:g}-T1-decoupled-{estimator}-n1-seed{seed}"
    return f"{method}-seed{seed}"


def hparams(method: str, beta: float = 0.5, estimator: str = "projection") -> dict:
    """Per-method hyper-parameters (PGD-AT's eps deliberately collides with the attack's eps)."""
    if method == "sagr":
        return {
            "lam": 0.1,
            "beta": beta,
            "T": 1.0,
            "form": "decoupled",
            "estimator": estimator,
            "n_proj": 1,
        }
    if method == "pgd_at":
        return {"eps": 0.3, "steps": 10}
    return {}


def accuracy(
    dataset: str,
    method: str,
    seed: int,
    attack: str,
    eps_index: int,
    beta: float = 0.5,
    estimator: str = "projection",
) -> float:
    """Known accuracy: distinct per cell, and seed spread that differs per method."""
    spread = {"standard": 0.01, "pgd_at": 0.02, "sagr": 0.04}.get(method, 0.03)
    offset = 0.05 if dataset == "cifar10" else 0.0
    if attack == "clean":
        acc = 0.99 - 0.02 * ALL_METHODS.index(method) - offset + 0.004 * seed
    elif attack == "pgd_unbounded":
        return 0.0
    else:
        acc = (
            METHOD_BASE[method]
            - 0.1 * eps_index
            - ATTACK_DROP.get(attack, 0.03)
            - offset
            + spread * seed
            + 0.1 * (beta - 0.5)
            + (JVP_SHIFT[eps_index] if estimator == "jvp" else 0.0)
        )
    return round(float(np.clip(acc, 0.0, 1.0)), 3)


def provenance(job: str, seed: int) -> dict:
    """A provenance block like the pipeline's."""
    return {
        "config": {"seed": seed},
        "seed": seed,
        "git_commit": "abc1234",
        "git_dirty": False,
        "versions": {"python": "3.11.7", "torch": "2.3.0", "torchattacks": "3.5.1"},
        "device": "cpu",
        "host": "testhost",
        "started": "2024-01-01T00:00:00",
        "wall_time_s": 10.0 + seed,
        "job": job,
    }


def _records(dataset: str, method: str, seed: int, beta: float, estimator: str) -> list[dict]:
    """One robustness record per (attack, ε), plus clean."""
    spec = DATASETS[dataset]
    recs = [
        {
            "attack": "clean",
            "kind": "clean",
            "norm": "none",
            "eps": 0.0,
            "n": N_EVAL,
            "accuracy": accuracy(dataset, method, seed, "clean", 0, beta, estimator),
            "params": {},
            "repr": "clean",
            "wall_time_s": 0.1,
        }
    ]

    def add(attack: str, norm: str, eps: float, i: int, n: int) -> None:
        params = ATTACK_SPECS[attack]
        recs.append(
            {
                "attack": attack,
                "kind": attack,
                "norm": norm,
                "eps": eps,
                "n": n,
                "accuracy": accuracy(dataset, method, seed, attack, i, beta, estimator),
                "params": params,
                "repr": f"{attack.upper()}(model_name=SmallCNN, eps={eps}, steps=40)",
                "wall_time_s": 1.5,
            }
        )

    for attack in LINF_ALL_EPS:
        for i, eps in enumerate(spec["eps"]):
            add(attack, "linf", eps, i, N_EVAL)
    last = len(spec["eps"]) - 1
    for attack in LINF_LARGEST:
        add(attack, "linf", spec["eps"][last], last, N_SUBSET if attack in SUBSET_ATTACKS else N_EVAL)
    add("pgd_unbounded", "linf", 1.0, 0, N_EVAL)
    for i, eps in enumerate(spec["l2"]):
        add("cw_l2", "l2", eps, i, N_EVAL)
    return recs


def _worst_case(records: list[dict], eps_list: list[float]) -> list[dict]:
    """Minimum over the L∞ attacks at each ε (ε = 1 too, as the pipeline does), smallest n."""
    out = []
    for eps in eps_list:
        at = [r for r in records if r["norm"] == "linf" and r["eps"] == eps]
        if not at:
            continue
        out.append(
            {
                "eps": eps,
                "accuracy": min(r["accuracy"] for r in at),
                "n": min(r["n"] for r in at),
                "attacks": [r["attack"] for r in at],
            }
        )
    return out


def reference_autoattack(dataset: str, method: str, seed: int) -> dict | None:
    """The reference-vs-torchattacks AutoAttack cross-check on MNIST models (None elsewhere)."""
    if dataset != "mnist":
        return None
    differs = (dataset, method, seed) == REFERENCE_DIFFERS
    ta = accuracy(dataset, method, seed, "autoattack", 2)
    ref = round(ta - (0.08 if differs else 0.005), 3)
    return {
        "eps": DATASETS[dataset]["eps"][-1],
        "accuracy": ref,
        "n": N_SUBSET,
        "n_correct": round(ref * N_SUBSET),
        "torchattacks_accuracy": ta,
        "mcnemar_p": 0.001 if differs else 0.6,
        "differs": differs,
    }


def _masking(dataset: str, method: str, seed: int) -> list[dict]:
    """All checks pass, except FAILED; CIFAR's unbounded check is n.a."""
    out = []
    for check, title in CHECKS.items():
        passed: bool | None = True
        if (dataset, method, seed, check) == FAILED:
            passed = False
        elif dataset == "cifar10" and check == "unbounded_zero":
            passed = None
        rec = {
            "check": check,
            "title": title,
            "passed": passed,
            "detail": f"{check} numbers for {method} seed {seed}",
        }
        if check == "blackbox_not_stronger":  # the paired-test fields of the new format
            rec.update(p_value=0.25 + 0.01 * seed, alpha=0.05, n_points=N_SUBSET)
        out.append(rec)
    return out


def write_run(root: Path, entry: dict) -> None:
    """Write train.json, robustness.json, saliency.json and maps.npz for one manifest entry."""
    dataset, method, seed, run = entry["dataset"], entry["method"], entry["seed"], entry["run"]
    beta = entry["hparams"].get("beta", 0.5) if method == "sagr" else 0.5
    spec = DATASETS[dataset]
    d = root / dataset / run
    d.mkdir(parents=True, exist_ok=True)
    head = {"dataset": dataset, "run": run, "method": method, "seed": seed, "hparams": entry["hparams"]}
    train = dict(
        head,
        history=[{"epoch": e, "loss": 1.0 / e, "reg": 0.1, "time_s": 3.0} for e in (1, 2)],
        train_accuracy=0.9,
        train_wall_time_s=60.0 + seed,
        test_accuracy=0.98,
        provenance=provenance("train_model", seed),
    )
    records = _records(dataset, method, seed, beta, entry["hparams"].get("estimator", "projection"))
    if not entry["main"] and not entry.get("full_suite"):  # ablation-only runs get the ablation suite
        records = [r for r in records if r["attack"] in ABLATION_ATTACKS]
    rob = dict(
        head,
        n_eval=N_EVAL,
        records=records,
        worst_case=_worst_case(records, spec["eps"] + [1.0]),
        masking=_masking(dataset, method, seed),
        autoattack_description="AutoAttack standard: APGD-CE, APGD-T, FAB-T, Square",
        reference_autoattack=reference_autoattack(dataset, method, seed),
        provenance=provenance("attack_model", seed),
    )
    gini = round(0.5 + 0.1 * ALL_METHODS.index(method) + 0.01 * seed + 0.2 * (beta - 0.5), 4)
    metrics = {
        "gini": {"mean": gini, "std": 0.05},
        "entropy": {"mean": 0.8, "std": 0.02},
        "alignment": {"mean": 0.3, "std": 0.1},
        "foreground_mass": {"mean": 0.7, "std": 0.1} if spec["foreground"] else None,
    }
    sal = dict(head, n_images=N_EVAL, metrics=metrics, provenance=provenance("saliency_model", seed))
    for name, data in (("train.json", train), ("robustness.json", rob), ("saliency.json", sal)):
        write_json(d / name, data)  # with its hash record, as the pipeline writes it
    write_npz(d / "correct.npz", **correct_arrays(records))
    rng = np.random.default_rng(seed)
    c = spec["channels"]
    write_npz(
        d / "maps.npz",
        images=rng.random((K_MAPS, c, 8, 8), dtype=np.float32),
        maps=rng.random((K_MAPS, 8, 8), dtype=np.float32),
        labels=np.arange(K_MAPS),
        indices=np.arange(K_MAPS) * 7,
    )


def write_npz(path: Path, **arrays: np.ndarray) -> None:
    """An .npz with its hash record, as the pipeline's jobs write them."""
    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)


def correct_arrays(records: list[dict], n_eval: int = N_EVAL) -> dict[str, np.ndarray]:
    """correct.npz of a run: the first round(accuracy·n) of an attack's n points correct, the
    rest of its n broken, points beyond n not evaluated (-1); nested, so the per-point worst
    case has the smallest count."""
    out = {}
    for r in records:
        arr = np.full(n_eval, -1, dtype=np.int8)
        arr[: r["n"]] = np.arange(r["n"]) < round(r["accuracy"] * r["n"])
        out[outcome_key(r["attack"], r["eps"])] = arr
    return out


def input_files(root: Path, manifest: list[dict]) -> dict[str, list[Path]]:
    """What the report rule hands the job: per kind, one file per run (as snakemake.input)."""
    names = {
        "train": "train.json",
        "robustness": "robustness.json",
        "saliency": "saliency.json",
        "correct": "correct.npz",
        "maps": "maps.npz",
    }
    return {
        kind: [Path(root) / e["dataset"] / e["run"] / name for e in manifest] for kind, name in names.items()
    }


def fake_manifest(sweep: bool = True, methods: list[str] = METHODS) -> list[dict]:
    """2 datasets × 3 methods (or ``methods``, e.g. `ALL_METHODS`) × 2 seeds of main runs, and
    optionally, on MNIST, a 3-point β sweep (seed 0) and an estimator sweep (both seeds)."""
    manifest = []
    for dataset in DATASETS:
        for method in methods:
            for seed in SEEDS:
                sweeps = []
                if sweep and dataset == "mnist" and method == "sagr":
                    sweeps = [{"param": "estimator", "value": "projection"}]
                    sweeps += [{"param": "beta", "value": 0.5}] if seed == 0 else []
                manifest.append(
                    {
                        "dataset": dataset,
                        "run": run_name(method, seed),
                        "method": method,
                        "seed": seed,
                        "hparams": hparams(method),
                        "main": True,
                        "sweeps": sweeps,
                    }
                )
    if sweep:
        for beta in BETA_SWEEP:
            if beta != 0.5:
                manifest.append(
                    {
                        "dataset": "mnist",
                        "run": run_name("sagr", 0, beta),
                        "method": "sagr",
                        "seed": 0,
                        "hparams": hparams("sagr", beta),
                        "main": False,
                        "sweeps": [{"param": "beta", "value": beta}],
                    }
                )
        for seed in SEEDS:
            for estimator in ESTIMATOR_SWEEP[1:]:
                manifest.append(
                    {
                        "dataset": "mnist",
                        "run": run_name("sagr", seed, estimator=estimator),
                        "method": "sagr",
                        "seed": seed,
                        "hparams": hparams("sagr", estimator=estimator),
                        "main": False,
                        "sweeps": [{"param": "estimator", "value": estimator}],
                    }
                )
    return manifest


# runs of the sweeps that are not main runs: the off-default β points and estimators
OFF_DEFAULT_RUNS = len(BETA_SWEEP) - 1 + len(SEEDS) * (len(ESTIMATOR_SWEEP) - 1)


def write_fake_results(root: Path, sweep: bool = True, methods: list[str] = METHODS) -> list[dict]:
    """Write the whole fake tree under root and return its manifest."""
    manifest = fake_manifest(sweep, methods)
    for entry in manifest:
        write_run(Path(root), entry)
    return manifest


def _bench_result(arch: str, device: str, threads: int, batch: int, ratios: dict, noise: dict) -> dict:
    """A benchmarks/bench_methods.py result: (method, variant) → (ratio, IQR), estimator → (sd, draws)."""
    rows = [
        {
            "method": method,
            "variant": variant,
            "n_steps": 10,
            "ms_per_step": 10.0 * ratio,
            "ratio_to_standard": ratio,
            "ratio_iqr": list(iqr),
            "goal": goal,
            "batch_size": batch,
            "arch": arch,
            "device": device.split(":")[0].split(" ")[0],
        }
        for (method, variant, goal), (ratio, iqr) in ratios.items()
    ]
    return {
        "arch": arch,
        "device": device,
        "device_type": device.split(":")[0].split(" ")[0],  # "cpu (x86_64, …)" or "cuda:<name>"
        "threads": threads,
        "batch_size": batch,
        "rows": rows,
        "noise": [
            {
                "estimator": e,
                "draws": draws,
                "n_examples": batch,
                "rel_sd_per_draw_median": sd,
                "rel_sd_per_draw_iqr": [round(0.9 * sd, 4), round(1.1 * sd, 4)],
                "rel_var_per_draw_median": round(sd * sd, 4),
                "mean_rel_error_of_average": 0.01,
            }
            for e, (sd, draws) in noise.items()
        ],
        "provenance": provenance("bench_methods", 0),
    }


# A reference file measured elsewhere (another architecture, on a GPU), merged into cost.json.
REFERENCE_FILE = "benchmarks/reference/cost_preact_resnet18_cuda.json"
REFERENCE_COMMIT = "0123456789abcdef"


def fake_benchmark() -> dict:
    """A cost.json like the benchmark job's: this run's small CNN on CPU and a reference file's
    PreActResNet-18 on a GPU, each with its rows and the estimators' noise (sagr.benchmark's shape)."""
    from sagr.benchmark import measured_on

    own = _bench_result(
        "small_cnn",
        "cpu (x86_64, 1 threads)",
        1,
        128,
        {
            ("standard", "", None): (1.0, (1.0, 1.0)),
            ("pgd_at", "K=5", "≈6"): (5.79, (5.5, 6.1)),
            ("sagr", "decoupled-projection", 2.0): (2.27, (2.12, 2.57)),
            ("sagr", "decoupled-jvp", 2.0): (2.57, (1.95, 2.74)),
        },
        {"projection": (0.285, 50), "jvp": (0.48, 50)},
    )
    ref = _bench_result(
        "preact_resnet18",
        "cuda:NVIDIA H200",
        1,
        128,
        {
            ("standard", "", None): (1.0, (1.0, 1.0)),
            ("sagr", "decoupled-projection", 2.0): (3.736, (3.558, 4.213)),
            ("sagr", "decoupled-jvp", 2.0): (6.283, (5.579, 7.29)),
        },
        {"projection": (0.0886, 40), "jvp": (0.4479, 40)},
    )
    ref["provenance"] = {**ref["provenance"], "git_commit": REFERENCE_COMMIT, "git_dirty": True}
    rows, noise = measured_on(own)
    ref_rows, ref_noise = measured_on(ref, REFERENCE_FILE)
    return {
        "dataset": "mnist",
        "arch": "small_cnn",
        "rows": rows + ref_rows,
        "noise": noise + ref_noise,
        "goals": {"sagr/decoupled-projection": 2.0},
        "provenance": provenance("benchmark_cost", 0),
    }


def fake_config() -> dict:
    """The render rule's settings in the pipeline's shape (`sagr.config.report_settings`): no λ rule,
    margins or floors, as a config without them gives."""
    return {"lambda_rule": None, "smallest_effect": None, "floors": {}, "departures": []}
