"""Per stage, each job's measured CPU seconds against the step benchmark's floor (steps × measured step time).

    python benchmarks/bench_stage_floor.py --config config/config.yaml --results results [--cost FILE | --measure]
        [--json floor.json]

The floor is the model's own arithmetic a job cannot avoid; measured / floor is what the job spends
besides it (interpreter and imports, data handling, per-step Python, checks, redundant passes).

- **Measured**: each job's CPU seconds as its own process counted them (`provenance.cpu_time_s` of
  train.json / robustness.json), else the `cpu_time` of its Snakemake benchmark file
  (results/benchmarks/{train,evaluate}/<dataset>/<run>.tsv), which samples the process tree at
  intervals and misses the last one (3-25 CPU s fewer per job on the default run). A job with neither
  is not counted.
- **Step time**: the step benchmark's milliseconds per training step of the run's method and variant
  (rows of the config's architecture and --device): the run's own results/benchmark/cost.json, else
  --cost (a file bench_methods.py writes), else, or with --measure, timed here: each configured
  variant's step in CPU seconds (`time.process_time`, the config's threads and batch size, a synthetic
  batch: step time does not depend on pixel values), interleaved rounds, the least over the rounds
  (on a shared machine CPU time too is inflated, by what ran on the core before: the median of the
  same steps was 1.5x the least on the 2-core development machine under load).
- **Training floor**: epochs × ⌈training images / batch size⌉ steps (train.json's epochs and
  n_train where the job finished, else the config's recipe and the dataset's size less the validation
  split) × the step time. `other` is the rest of the job's model arithmetic, in image passes at the
  benchmark's pass time (below): the validation split's clean and PGD accuracy after each validated
  epoch, the 1,000-image accuracy of each epoch's log line, and the final training and test accuracy
  (a forward pass counted as 1/3 of a forward and backward one).
- **Evaluation floor**: no training step here; the floor is every attack's image passes (forward and
  backward to the input) on the points it ran on, from robustness.json's records (`n` points
  attacked, `n_correct` left robust), counted as a lower bound: FGSM 1, PGD and CW-L∞ their steps (a
  later restart only on the points still robust), CW-L2 its steps (it may stop early: 16 points,
  negligible), APGD-CE its iterations, APGD-T and FAB-T their iterations on every point for the first
  target and on the points left robust for the others, Square one forward pass per query on the points
  left robust, AutoAttack APGD-CE on every point then the rest on the points left robust; the clean
  pass 1/3. One pass costs what the job's own PGD records measured per pass (CPU seconds / steps ×
  points, the least over its PGD records of 1,000 passes or more: plain forward and input-gradient
  passes at the evaluation batch, on the same machine at the same time as the rest of the job), else
  the benchmark's pass (--measure: a forward and input-gradient pass at the evaluation batch; a cost
  file: a standard training step per image, which also computes weight gradients, so more than an
  attack's pass). `in atk s` is the CPU the job measured inside its attack calls (the records'
  `cpu_time_s`): the CPU beyond it is spent outside the attacks (start-up, data, model and masking
  checks, writing); CPU inside the attacks beyond the floor is the attacks' own overhead (their
  bookkeeping, extra forward passes, Square's per-query Python).

Rows are per stage, dataset, method (and, for evaluation, main comparison or sweep point, whose
suites differ): jobs measured of those planned, mean CPU seconds per job, the work (steps or image
passes), the unit time, the floor and the ratio. Totals per stage at the end.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import defaultdict
from pathlib import Path
from statistics import mean
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_run_budget import bench_column  # noqa: E402

from sagr import registry  # noqa: E402
from sagr.config import load, method_hparams, recipe  # noqa: E402
from sagr.files import write_json  # noqa: E402
from sagr.runs import manifest  # noqa: E402
from sagr.schedule import FORWARD, _variant  # noqa: E402
from sagr.train import LOG_ACC_POINTS  # noqa: E402

STAGE_FILES = {"train": "train.json", "evaluate": "robustness.json"}


# ------------------------------------------------------------------------------------------ measured


def read_result(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        return None


def job_cpu(results: Path, stage: str, dataset: str, run: str) -> tuple[float | None, str, dict | None]:
    """(CPU seconds, where from, the result file's content) of one job: the process's own count
    (provenance), else Snakemake's, which samples the process tree at intervals and misses the
    last one (3-25 CPU s fewer per job on the default run)."""
    result = read_result(results / dataset / run / STAGE_FILES[stage])
    prov = (result or {}).get("provenance") or {}
    if prov.get("cpu_time_s") is not None:
        return float(prov["cpu_time_s"]), "provenance", result
    cpu = bench_column(results / "benchmarks" / stage / dataset / f"{run}.tsv", "cpu_time")
    if cpu is not None:
        return cpu, "benchmark", result
    return None, "", result


# ------------------------------------------------------------------------------------------- costs


class Costs:
    """Seconds of one training step per (method, variant), and of one image pass."""

    def __init__(self, rows: list[dict], arch: str, device: str, described: str, pass_s: float | None = None):
        mine = [r for r in rows if r.get("arch") == arch and r.get("device") == device]
        own = [r for r in mine if not r.get("reference")]  # the run's own measurement before a reference
        self.rows = own or mine
        self.described = described
        std = self.find("standard", "")
        if std is None:
            raise SystemExit(f"no standard step for {arch} on {device} in {described}")
        self.standard_s = std["ms_per_step"] / 1000.0
        self.batch = int(std["batch_size"])
        self.pass_s = pass_s if pass_s is not None else self.standard_s / self.batch
        self.pass_described = (
            "timed: a forward and input-gradient pass per image at the evaluation batch"
            if pass_s is not None
            else f"a standard training step per image ({1000 * self.standard_s:.2f} ms / {self.batch})"
        )

    def find(self, method: str, variant: str) -> dict | None:
        for r in self.rows:
            if r.get("method") == method and (r.get("variant") or "") == variant:
                return r
        return None

    def step_s(self, method: str, hp: dict, batch: int) -> tuple[float | None, str]:
        """Seconds of one step of ``method`` with ``hp`` at ``batch`` images, and what it is."""
        variant = _variant(method, hp) if method != "standard" else None
        label = variant.label if variant else ""
        row = self.find(method, label)
        if row is None:
            return None, f"no row {method}/{label}"
        s = row["ms_per_step"] / 1000.0
        note = f"{method}/{label}" if label else method
        ref_n = (row.get("hp") or {}).get("n_proj")
        if ref_n and hp.get("n_proj") and hp["n_proj"] != ref_n and hp.get("estimator") != "exact":
            s = self.standard_s + (s - self.standard_s) * hp["n_proj"] / ref_n  # as sagr.schedule scales it
            note += f" ×n_proj {hp['n_proj']}/{ref_n}"
        if int(row["batch_size"]) != batch:
            s *= batch / int(row["batch_size"])
            note += f" scaled from batch {row['batch_size']}"
        return s, note


def load_costs(path: Path, arch: str, device: str) -> Costs:
    data = json.loads(path.read_text())
    rows = [
        {
            "arch": data.get("arch"),
            "device": data.get("device_type"),
            "batch_size": data.get("batch_size"),
            **r,
        }
        for r in data.get("rows", [])
    ]
    return Costs(rows, arch, device, str(path))


def measure_costs(config: dict, dataset: str, rounds: int, warmup: int) -> Costs:
    """Each configured (method, variant)'s training step timed here in CPU seconds, and one image pass
    at the evaluation batch size: interleaved rounds, the least time over the rounds (the floor: on a
    shared machine every other round is slowed by what ran before it on the core)."""
    import torch
    import torch.nn.functional as F

    from sagr import models
    from sagr.methods import get_objective

    torch.set_num_threads(int(config["threads"]))
    dcfg = config["datasets"][dataset]
    info = registry.DATASETS[dataset]
    c, side = info.in_channels, info.image_size

    def build():
        torch.manual_seed(0)
        return models.build_model(dcfg["arch"], info.n_classes, c, side, [0.5] * c, [0.25] * c)

    g = torch.Generator().manual_seed(0)
    batch = int(dcfg["batch_size"])
    x = torch.rand(batch, c, side, side, generator=g)
    y = torch.randint(0, info.n_classes, (batch,), generator=g)
    variants: dict[tuple[str, str], dict] = {}
    for e in manifest(config):
        if e.dataset == dataset:
            hp = method_hparams(dcfg, e.run.method, e.run.hp)
            v = _variant(e.run.method, hp) if e.run.method != "standard" else None
            variants.setdefault((e.run.method, v.label if v else ""), hp)
    entries = []
    for (method, label), hp in variants.items():
        model = build().train()
        opt = torch.optim.SGD(model.parameters(), lr=1e-3)
        entries.append((method, label, hp, model, opt, get_objective(method), []))
    for i in range(warmup + rounds):
        for _, _, hp, model, opt, objective, times in entries:
            t0 = time.process_time()
            loss = objective(model, x, y, hp).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if i >= warmup:
                times.append(time.process_time() - t0)
    rows = [
        {"method": m, "variant": lab, "ms_per_step": 1000 * min(t), "batch_size": batch, "arch": dcfg["arch"],
         "device": "cpu"}
        for m, lab, _, _, _, _, t in entries
    ]  # fmt: skip
    # one image pass of an attack: forward and backward to the input, the model in eval mode
    n = int(dcfg["eval_batch_size"])
    xe = torch.rand(n, c, side, side, generator=g)
    ye = torch.randint(0, info.n_classes, (n,), generator=g)
    model = build().eval()
    passes = []
    for i in range(warmup + rounds):
        xi = xe.clone().requires_grad_(True)
        t0 = time.process_time()
        torch.autograd.grad(F.cross_entropy(model(xi), ye), xi)
        if i >= warmup:
            passes.append(time.process_time() - t0)
    described = (
        f"timed here: least CPU seconds over {rounds} rounds after {warmup}, {torch.get_num_threads()} "
        f"thread(s), batch {batch}, synthetic data"
    )
    return Costs(rows, dcfg["arch"], "cpu", described, min(passes) / n)


# -------------------------------------------------------------------------------------------- work


def train_work(config: dict, dataset: str, method: str, result: dict | None) -> dict[str, Any]:
    """Steps of one training job and its other model arithmetic (image passes)."""
    dcfg = config["datasets"][dataset]
    info = registry.DATASETS[dataset]
    rec = recipe(config, dataset, method)
    val = dcfg.get("validation")
    n_val = int(val["n"]) if val else 0
    n_fit = info.n_train - n_val
    if dcfg.get("train_subset"):
        n_fit = min(n_fit, int(dcfg["train_subset"]))
    epochs, batch = int(rec["epochs"]), int(rec["batch_size"])
    if result:  # what the job did
        epochs = int(result.get("epochs", epochs))
        n_fit = int(result.get("n_train", n_fit))
        batch = int(
            ((result.get("provenance") or {}).get("config") or {})
            .get("settings", {})
            .get("batch_size", batch)
        )
        n_val = int(result.get("n_val") or 0)
    steps = epochs * math.ceil(n_fit / batch)
    other = epochs * min(n_fit, LOG_ACC_POINTS) * FORWARD + (n_fit + info.n_test) * FORWARD
    if val and n_val:
        validated = len({e for e in range(1, epochs + 1) if e % int(val.get("every", 1)) == 0} | {epochs})
        other += validated * n_val * (int(val["pgd_steps"]) + 2 * FORWARD)
    return {"epochs": epochs, "n_train": n_fit, "batch_size": batch, "steps": steps, "other_passes": other}


def record_passes(rec: dict) -> float:
    """Image passes (forward and backward to the input) one robustness record's attack ran at least."""
    p, n, left = rec.get("params") or {}, int(rec.get("n") or 0), int(rec.get("n_correct") or 0)
    kind = rec.get("kind") or p.get("kind")
    if n == 0:
        return 0.0
    if kind == "clean":
        return n * FORWARD
    if kind == "fgsm":
        return float(n)
    if kind in ("pgd", "cw_inf"):
        steps, restarts = float(p["steps"]), int(p.get("restarts", 1))
        return steps * (n + left * (restarts - 1))
    if kind == "cw_l2":
        return float(p["steps"]) * n
    if kind == "apgd_ce":
        return float(p["n_iter"]) * (n + left * (int(p.get("n_restarts", 1)) - 1))
    if kind in ("apgd_t", "fab_t"):
        return float(p["n_iter"]) * (
            n + left * (int(p["n_target_classes"]) * int(p.get("n_restarts", 1)) - 1)
        )
    if kind == "square":
        return n * FORWARD + left * float(p["n_queries"]) * int(p.get("n_restarts", 1)) * FORWARD
    if kind in ("autoattack", "autoattack_ref"):
        it, targets = float(p["n_iter"]), int(p["n_target_classes"])
        return it * n + left * (2 * it * targets + float(p["n_queries"]) * FORWARD)
    return float(p.get("steps", p.get("n_iter", 1))) * n  # a kind added later: its iterations


def evaluate_work(result: dict) -> dict[str, Any]:
    """Image passes of one evaluation job and the CPU its records measured inside the attacks (one
    C&W-L2 run serves every L2 budget: its records share a run and are counted once)."""
    passes, attacks_cpu, seen, rates = 0.0, 0.0, set(), []
    for rec in result.get("records", []):
        if rec.get("norm") == "l2":
            if rec.get("attack") in seen:
                continue
            seen.add(rec.get("attack"))
        p = record_passes(rec)
        passes += p
        attacks_cpu += float(rec.get("cpu_time_s") or 0.0)
        if rec.get("kind") == "pgd" and rec.get("cpu_time_s") and p >= 1000:
            rates.append(float(rec["cpu_time_s"]) / p)
    return {"passes": passes, "attacks_cpu_s": attacks_cpu, "pgd_pass_s": min(rates) if rates else None}


# ------------------------------------------------------------------------------------------- table


def jobs(config: dict, results: Path, costs: Costs) -> list[dict[str, Any]]:
    """One row per planned train and evaluate job: measured CPU, work, floor."""
    out = []
    for e in manifest(config):
        hp = method_hparams(config["datasets"][e.dataset], e.run.method, e.run.hp)
        for stage in STAGE_FILES:
            cpu, source, result = job_cpu(results, stage, e.dataset, e.run.name)
            row: dict[str, Any] = {
                "stage": stage,
                "dataset": e.dataset,
                "run": e.run.name,
                "method": e.run.method,
                "suite": ("main" if e.main else "sweep") if stage == "evaluate" else "",
                "cpu_s": cpu,
                "cpu_from": source,
            }
            if stage == "train":
                work = train_work(config, e.dataset, e.run.method, result)
                step_s, note = costs.step_s(e.run.method, hp, work["batch_size"])
                row.update(work, unit_s=step_s, unit=note)
                row["floor_s"] = None if step_s is None else work["steps"] * step_s
                row["other_s"] = work["other_passes"] * costs.pass_s
            elif result is not None:
                work = evaluate_work(result)
                own = work["pgd_pass_s"]
                unit = own if own is not None else costs.pass_s
                row.update(work, unit_s=unit, unit="the job's own PGD pass" if own else "benchmark pass")
                row["floor_s"] = work["passes"] * unit
                row["floor_benchmark_s"] = work["passes"] * costs.pass_s
                row["other_s"] = 0.0
            out.append(row)
    return out


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Means per (stage, dataset, method, suite) over the jobs with both a measurement and a floor."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    planned: dict[tuple, int] = defaultdict(int)
    for r in rows:
        key = (r["stage"], r["dataset"], r["method"], r["suite"])
        planned[key] += 1
        if r["cpu_s"] is not None and r.get("floor_s") is not None:
            groups[key].append(r)
    out = []
    for key in sorted(planned, key=lambda k: (list(STAGE_FILES).index(k[0]), k[1], k[2], k[3])):
        g = groups.get(key, [])
        row: dict[str, Any] = dict(zip(("stage", "dataset", "method", "suite"), key))
        row.update(planned=planned[key], measured=len(g))
        if g:
            cpu, floor, other = (mean(r[k] for r in g) for k in ("cpu_s", "floor_s", "other_s"))
            work = mean(r["steps"] if key[0] == "train" else r["passes"] for r in g)
            row.update(
                cpu_s=round(cpu, 1),
                work=round(work),
                unit_ms=round(1000 * mean(r["unit_s"] for r in g), 4),
                floor_s=round(floor, 1),
                ratio=round(cpu / floor, 2) if floor else None,
                other_s=round(other, 1),
                ratio_with_other=round(cpu / (floor + other), 2) if floor + other else None,
                attacks_cpu_s=round(mean(r["attacks_cpu_s"] for r in g), 1) if key[0] == "evaluate" else None,
            )
        out.append(row)
    return out


def totals(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    out = {}
    for stage in STAGE_FILES:
        g = [
            r for r in rows if r["stage"] == stage and r["cpu_s"] is not None and r.get("floor_s") is not None
        ]
        if g:
            cpu, floor = sum(r["cpu_s"] for r in g), sum(r["floor_s"] for r in g)
            other = sum(r["other_s"] for r in g)
            out[stage] = {
                "jobs": len(g),
                "cpu_s": round(cpu, 1),
                "floor_s": round(floor, 1),
                "other_s": round(other, 1),
                "ratio": round(cpu / floor, 2) if floor else None,
                "ratio_with_other": round(cpu / (floor + other), 2) if floor + other else None,
            }
            if stage == "evaluate":
                out[stage]["attacks_cpu_s"] = round(sum(r["attacks_cpu_s"] for r in g), 1)
    return out


def _f(v: Any, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def format_table(summary: list[dict[str, Any]], tot: dict[str, dict[str, float]]) -> str:
    head = (
        f"{'stage':8s} {'dataset':8s} {'method':8s} {'suite':5s} {'jobs':>6s} {'CPU s':>7s} {'work':>10s} "
        f"{'unit ms':>8s} {'floor s':>8s} {'CPU/fl':>6s} {'other s':>7s} {'CPU/(fl+o)':>10s} {'in atk s':>8s}"
    )
    lines = [head]
    for r in summary:
        lines.append(
            f"{r['stage']:8s} {r['dataset']:8s} {r['method']:8s} {r['suite']:5s} "
            f"{r['measured']:>2d}/{r['planned']:<3d} {_f(r.get('cpu_s'), '7.1f')} {_f(r.get('work'), '10d')} "
            f"{_f(r.get('unit_ms'), '8.3f')} {_f(r.get('floor_s'), '8.1f')} {_f(r.get('ratio'), '6.2f')} "
            f"{_f(r.get('other_s'), '7.1f')} {_f(r.get('ratio_with_other'), '10.2f')} {_f(r.get('attacks_cpu_s'), '8.1f')}"
        )
    for stage, t in tot.items():
        extra = f", inside the attacks {t['attacks_cpu_s']:.0f}" if "attacks_cpu_s" in t else ""
        lines.append(
            f"{stage}: {t['jobs']} jobs, CPU {t['cpu_s']:.0f} s, floor {t['floor_s']:.0f} s "
            f"(x{_f(t['ratio'], '.2f')}), with the other model arithmetic {t['floor_s'] + t['other_s']:.0f} s "
            f"(x{_f(t['ratio_with_other'], '.2f')}){extra}"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--results", type=Path, required=True)
    ap.add_argument(
        "--cost", type=Path, help="step benchmark JSON (bench_methods.py); default: the run's cost.json"
    )
    ap.add_argument("--measure", action="store_true", help="time the steps here in CPU seconds")
    ap.add_argument("--device", default="cpu", help="the device type of the step-time rows to use")
    ap.add_argument("--steps", type=int, default=10, help="--measure: timed rounds")
    ap.add_argument("--warmup", type=int, default=2, help="--measure: untimed rounds first")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    config = load(args.config)
    datasets = sorted(config["datasets"])
    if len({config["datasets"][d]["arch"] for d in datasets}) > 1:
        ap.error("one architecture per run: the step times are of one model")
    arch = config["datasets"][datasets[0]]["arch"]
    own = args.results / "benchmark" / "cost.json"
    if args.measure or (args.cost is None and not own.is_file()):
        costs = measure_costs(config, datasets[0], args.steps, args.warmup)
    else:
        costs = load_costs(args.cost or own, arch, args.device)
    rows = jobs(config, args.results, costs)
    summary, tot = summarise(rows), totals(rows)
    print(f"step times: {costs.described}; image pass {1000 * costs.pass_s:.4f} ms ({costs.pass_described})")
    print(format_table(summary, tot))
    if args.json:
        write_json(
            args.json,
            {
                "config": str(args.config),
                "results": str(args.results),
                "costs": {
                    "source": costs.described,
                    "standard_step_ms": round(1000 * costs.standard_s, 4),
                    "image_pass_ms": round(1000 * costs.pass_s, 5),
                    "image_pass": costs.pass_described,
                },
                "summary": summary,
                "totals": tot,
                "jobs": rows,
            },
        )
        print(f"written to {args.json}")


if __name__ == "__main__":
    main()
