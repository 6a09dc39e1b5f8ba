"""Where a training job and an evaluation job spend their CPU: torch.profiler over a short slice of each.

    python benchmarks/profile_job.py [--config config/config.yaml] [--methods pgd_at,jr] [--steps 8]
        [--epochs 1] [--val-points 100] [--eval-points 32] [--attacks pgd,apgd_ce,...|all] [--eps 0.3 ...]
        [--model results/mnist/<run>/model.pt] [--once] [--no-profile] [--max-memory-gb 4] [--out FILE]

The pipeline's own job functions run, with the config's settings cut to a slice:
`sagr.jobs.train_job` per method on --steps × batch-size training images for --epochs epochs
(validation on --val-points held-out images), then `sagr.jobs.evaluate_job` on the first --eval-points
points of the evaluation subset, with the attacks of the suite the evaluate rule gives a seed-0 model
of the main comparison named by --attacks (default: the AutoAttack cascade, pgd, apgd_ce, apgd_t,
square_aa) at --eps (default: the config's largest), on the first method's freshly trained model or on
--model (a trained one: the cascade only works where points stay robust). Each job runs first under
torch.profiler (CPU activity), cold as in a job's own process (lazy imports, first calls), then again
plainly (its CPU seconds warm, without the profiler's bookkeeping; --once: not).

Printed per job: CPU and wall seconds of both runs; the profiled time split into aten operators (self
time: the arithmetic and its dispatch), autograd's engine and backward nodes (self time), and outside
any operator (Python, data handling, the profiler's own bookkeeping); the top operators by self time;
and the job's phases (data loading, the training loop, validation, the accuracy passes, model checks,
each attack by class, masking checks, writing), labelled by wrapping the library's functions in a
`record_function` and a CPU clock: each phase's CPU seconds (inclusive) and the share of its own
profiled time (less its nested phases') outside any operator. The profiler's times are wall-clock: on
a busy machine each share is of time that includes waiting for the core; the CPU seconds are not.
Also the CPU seconds of this process's imports (torch, torchattacks, sagr), which every job pays
before its work. JSON to --out (default benchmarks/profile_job.json).

The profiler keeps every operator call in memory, and an evaluation job makes as many as its attacks
iterate, whatever its number of points (one batch): 38 s of Square's 5,000 queries on 64 points took
8 GB to analyse. A watchdog keeps the process under --max-memory-gb (default 4) more than it started
with: a profile that grows past an eighth of it stops the job there and is analysed as far as it went
(`truncated`); an analysis that would pass it is dropped (`too_large`: the phases' CPU only).

Data: MNIST from the data mirror (`SAGR_DATA_MIRROR`, else the config's `data.mirror`), prepared
under the config's data root; `python tests/fake_data.py /tmp/mirror` makes a stand-in mirror
(`SAGR_DATA_MIRROR=/tmp/mirror SAGR_ALLOW_UNOFFICIAL_DATA=1`).

At full size (one whole default job of each kind, tens of minutes on one CPU thread; the profiles stop
at the memory limit, the steps being alike; with --no-profile every phase's CPU runs to the end):

    python benchmarks/profile_job.py --methods pgd_at --steps 0 --epochs 0 --val-points 0 --once \
        --eval-points 0 --attacks all --eps 0.1 0.2 0.3 --model results/mnist/pgd_at_K5_a0.4_seed0/model.pt

(--steps 0: the whole training set; --epochs 0: the method's recipe; --val-points 0: the config's
validation split; --eval-points 0: the config's evaluation subset; --no-profile: the phases' CPU only;
--methods '' with --model: the evaluation job only.)
"""

from __future__ import annotations

import time

_T0 = time.process_time()

import _thread  # noqa: E402
import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
from collections import defaultdict  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import torchattacks  # noqa: E402, F401  (imported here so that its import is counted with the others)
from torch.profiler import ProfilerActivity, profile, record_function  # noqa: E402

import sagr.attacks  # noqa: E402
import sagr.masking  # noqa: E402
import sagr.model_checks  # noqa: E402
import sagr.robustness.runner  # noqa: E402
import sagr.train  # noqa: E402
from sagr import cache, data, divergence, jobs, models  # noqa: E402
from sagr.attack_kinds import suite_for_seed  # noqa: E402
from sagr.config import attack_suite, execution, job_settings, load  # noqa: E402
from sagr.files import write_json  # noqa: E402
from sagr.runs import make_run  # noqa: E402

IMPORT_CPU_S = time.process_time() - _T0
# The AutoAttack cascade as the default config runs it at its largest ε (--attacks all: the whole suite).
DEFAULT_ATTACKS = "pgd,apgd_ce,apgd_t,square_aa"

# The library functions whose inclusive time is a phase: (module, attribute, label).
PHASES = [
    (cache, "load", "data: cache.load"),
    (jobs, "eval_points", "data: eval points"),
    (jobs, "fit", "train: fit (the loop)"),
    (sagr.train, "validate", "train: validation PGD"),
    (sagr.train, "_log_epoch", "train: epoch log accuracy"),
    (sagr.train, "augment_batch", "train: augmentation"),
    (divergence, "judge", "train: divergence judge (training accuracy)"),
    (jobs, "accuracy", "train: test accuracy"),
    (models, "save_model", "write: model"),
    (jobs, "write_json", "write: record"),
    (models, "load_model", "evaluate: load model"),
    (sagr.model_checks, "model_checks", "evaluate: model checks"),
    (sagr.robustness.runner, "run_suite", "evaluate: attack suite"),
    (sagr.attacks, "build_attack", "evaluate: build attacks"),
    (sagr.masking, "table_masking_checks", "evaluate: masking checks"),
]


PHASE_PREFIXES = ("data:", "train:", "write:", "evaluate:", "attack:")
# label -> [calls, CPU seconds (inclusive)], filled while RECORDING
PHASE_CPU: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
RECORDING = [False]


def _labelled(fn: Callable, label: str) -> Callable:
    def wrapper(*a, **k):
        c0 = time.process_time()
        try:
            with record_function(label):
                return fn(*a, **k)
        finally:
            if RECORDING[0]:
                PHASE_CPU[label][0] += 1
                PHASE_CPU[label][1] += time.process_time() - c0

    return wrapper


def label_phases() -> None:
    """Wrap each phase function in a `record_function` of its label and a CPU clock (each attack by
    its class)."""
    for module, name, label in PHASES:
        if hasattr(module, name):
            setattr(module, name, _labelled(getattr(module, name), label))
    run_attack = sagr.attacks.run_attack

    def attack(atk, *a, **k):
        return _labelled(run_attack, f"attack: {type(atk).__name__}")(atk, *a, **k)

    sagr.attacks.run_attack = attack


def _is_engine(name: str) -> bool:
    return name.startswith("autograd::") or "Backward" in name


def _under(evt) -> tuple[float, float, float]:
    """(aten self, autograd self, nested phases' total) µs under ``evt``, not descending into nested phases."""
    aten = engine = nested = 0.0
    stack = list(evt.cpu_children)
    while stack:
        c = stack.pop()
        if c.name.startswith(PHASE_PREFIXES):
            nested += c.cpu_time_total
            continue
        if c.name.startswith("aten::"):
            aten += c.self_cpu_time_total
        elif _is_engine(c.name):
            engine += c.self_cpu_time_total
        stack.extend(c.cpu_children)
    return aten, engine, nested


def split(prof, total_s: float, top: int) -> dict[str, Any]:
    """The profiled seconds by kind of event, the top operators, and per phase its CPU seconds and the
    share of its own profiled time (less its nested phases') outside any operator."""
    aten = engine = 0.0
    ops: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    within: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])  # label -> [own µs, outside µs]
    for e in prof.key_averages() if prof is not None else []:
        if e.key.startswith(PHASE_PREFIXES):
            continue
        self_s = e.self_cpu_time_total / 1e6
        if e.key.startswith("aten::"):
            aten += self_s
            ops[e.key][0] += e.count
            ops[e.key][1] += self_s
        elif _is_engine(e.key):
            engine += self_s
    for e in prof.events() if prof is not None else []:
        if e.name.startswith(PHASE_PREFIXES):
            a, g, nested = _under(e)
            own = e.cpu_time_total - nested
            within[e.name][0] += own
            within[e.name][1] += max(0.0, own - a - g)
    outside = max(0.0, total_s - aten - engine) if prof is not None else None
    ranked = sorted(ops.items(), key=lambda kv: -kv[1][1])
    return {
        "profiled_s": round(total_s, 3),
        "aten_self_s": round(aten, 3),
        "autograd_self_s": round(engine, 3),
        "outside_ops_s": None if outside is None else round(outside, 3),
        "outside_share": round(outside / total_s, 3) if total_s and outside is not None else None,
        "top_ops": [
            {
                "op": k,
                "calls": int(c),
                "self_s": round(s, 4),
                "share": round(s / total_s, 4) if total_s else None,
            }
            for k, (c, s) in ranked[:top]
        ],
        "phases": [
            {
                "phase": k,
                "calls": int(c),
                "cpu_s": round(cpu, 3),
                "outside_ops_share": round(within[k][1] / within[k][0], 3) if within[k][0] else None,
            }
            for k, (c, cpu) in sorted(PHASE_CPU.items(), key=lambda kv: -kv[1][1])
        ],
    }


#: The profiler's share of --max-memory-gb: turning its events into Python objects for the tables
#: takes several times what it held while it ran (8 GB for 38 s of Square's queries on 64 points).
PROFILING_SHARE = 1 / 8


class Watchdog:
    """Interrupts the main thread once this process's resident memory passes ``limit`` bytes: the
    profiler keeps every operator call in memory, and an evaluation job runs as many as its attacks
    iterate, whatever its number of points (one batch)."""

    def __init__(self, limit: float):
        self.limit = limit
        self.fired = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    @staticmethod
    def rss() -> int:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:  # not Linux: no watchdog
            return 0

    def _watch(self) -> None:
        while not self._stop.wait(0.2):
            if self.rss() > self.limit:
                self.fired = True
                _thread.interrupt_main()
                return

    def __enter__(self) -> Watchdog:
        if self.rss():
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()


def run_twice(
    fn: Callable[[], Any], top: int, again: bool = True, profiled: bool = True, limit_gb: float = 4.0
) -> dict[str, Any]:
    """``fn`` under the profiler, cold as in a job's process (lazy imports, first calls), then (``again``)
    plainly: its CPU and wall seconds warm and without the profiler's bookkeeping. ``profiled`` False:
    the phases' CPU clocks only. Memory: a profile that grows past :data:`PROFILING_SHARE` of
    ``limit_gb`` stops the job there and is analysed as far as it went (``truncated``; the job is not
    run again); an analysis that would pass ``limit_gb`` is dropped (``too_large``: phases only)."""
    PHASE_CPU.clear()
    RECORDING[0] = True
    base, limit = Watchdog.rss(), limit_gb * 2**30
    c0, w0 = time.process_time(), time.perf_counter()
    truncated, prof = False, None
    profiler = profile(activities=[ProfilerActivity.CPU]) if profiled else contextlib.nullcontext()
    dog = Watchdog(base + limit * PROFILING_SHARE)
    try:
        with dog, profiler as prof:
            fn()
    except KeyboardInterrupt:
        if not dog.fired:
            raise
        truncated = True
        print(
            f"profile stopped at {limit_gb * PROFILING_SHARE:.2g} GB more memory: analysed as far as it went"
        )
    wall = time.perf_counter() - w0
    profiled_cpu = time.process_time() - c0
    RECORDING[0] = False
    out: dict[str, Any] = {
        "profiled_cpu_s": round(profiled_cpu, 3),
        "truncated": truncated,
        "too_large": False,
    }
    cpu = warm = None
    if again and not truncated:
        c1, w1 = time.process_time(), time.perf_counter()
        fn()
        cpu, warm = time.process_time() - c1, time.perf_counter() - w1
    out.update(
        warm_cpu_s=None if cpu is None else round(cpu, 3),
        warm_wall_s=None if warm is None else round(warm, 3),
    )
    dog = Watchdog(base + limit)
    try:
        with dog:
            analysis = split(prof if profiled else None, wall, top)
    except KeyboardInterrupt:
        if not dog.fired:
            raise
        prof = None
        analysis = split(None, wall, top)
        out["too_large"] = True
        print(f"the profile is too large to analyse within --max-memory-gb {limit_gb}: phases' CPU only")
    return {**out, **analysis}


def report(name: str, r: dict[str, Any]) -> None:
    p = r["profiled_s"]
    warm = (
        f"; again unprofiled (warm): {r['warm_cpu_s']:.2f} CPU s, {r['warm_wall_s']:.2f} s wall"
        if r["warm_cpu_s"] is not None
        else ""
    )
    print(f"\n== {name}")
    if r["outside_share"] is None:
        print(f"not profiled: {r['profiled_cpu_s']:.2f} CPU s, {p:.2f} s wall{warm}")
    else:
        print(
            f"profiled (cold): {r['profiled_cpu_s']:.2f} CPU s, {p:.2f} s wall: aten ops {r['aten_self_s']:.2f} s "
            f"({r['aten_self_s'] / p:.0%}), autograd engine {r['autograd_self_s']:.2f} s "
            f"({r['autograd_self_s'] / p:.0%}), outside any op {r['outside_ops_s']:.2f} s "
            f"({r['outside_share']:.0%}){warm}"
        )
        print(f"{'operator (self, profiled s)':44s} {'calls':>7s} {'s':>8s} {'share':>6s}")
        for o in r["top_ops"]:
            print(f"{o['op'][:44]:44s} {o['calls']:7d} {o['self_s']:8.3f} {o['share']:6.1%}")
    print(
        f"{'phase (CPU s inclusive; outside ops: of its own time)':52s} {'calls':>6s} {'CPU s':>7s} {'outside':>7s}"
    )
    for ph in r["phases"]:
        share = "-" if ph["outside_ops_share"] is None else f"{ph['outside_ops_share']:.0%}"
        print(f"{ph['phase'][:52]:52s} {ph['calls']:6d} {ph['cpu_s']:7.2f} {share:>7s}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, default=REPO / "config" / "config.yaml")
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--methods", default="pgd_at,jr", help="comma-separated: one training slice each")
    ap.add_argument(
        "--steps", type=int, default=8, help="training steps per epoch (0: the whole training set)"
    )
    ap.add_argument("--epochs", type=int, default=1, help="0: the method's recipe")
    ap.add_argument("--val-points", type=int, default=100, help="validation images (0: the config's)")
    ap.add_argument("--eval-points", type=int, default=32, help="0: the config's eval_subset")
    ap.add_argument(
        "--attacks",
        default=None,
        help=f"comma-separated names of the seed-0 suite, or all (default {DEFAULT_ATTACKS})",
    )
    ap.add_argument(
        "--eps", type=float, nargs="+", default=None, help="L∞ budgets (default: the config's largest)"
    )
    ap.add_argument("--model", type=Path, default=None, help="evaluate this model.pt instead of the slice's")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--once", action="store_true", help="profile only: no plain rerun of each job")
    ap.add_argument("--no-profile", action="store_true", help="the phases' CPU clocks only, no profiler")
    ap.add_argument(
        "--max-memory-gb", type=float, default=4.0, help="memory a profile may add (GB; see the docstring)"
    )
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "profile_job.json")
    args = ap.parse_args()

    config = load(args.config)
    ds = args.dataset
    root = Path(config["data"]["root"])
    data.prepare_dataset(ds, root, data.mirror_from_env(config["data"]["mirror"]))
    if not cache.split_path(root, ds, "train").exists():
        cache.write_cache(root, ds)
    with tempfile.TemporaryDirectory(prefix="sagr-profile-") as tmp:
        out = profile_jobs(args, ap, config, ds, Path(tmp))
    write_json(args.out, out)
    print(f"\nwritten to {args.out}")


def profile_jobs(args, ap, config: dict, ds: str, work: Path) -> dict[str, Any]:
    """Each training slice and the evaluation slice, profiled; the JSON's content."""
    logging.basicConfig(filename=work / "jobs.log", level=logging.INFO, format=jobs.LOG_FORMAT, force=True)
    exe = {**execution(config), "progress": False}
    exe["checkpoint"] = {**exe["checkpoint"], "dir": str(work / "checkpoints")}
    label_phases()
    out: dict[str, Any] = {"imports_cpu_s": round(IMPORT_CPU_S, 3), "threads": exe["threads"], "jobs": {}}
    print(f"imports (torch, torchattacks, sagr): {IMPORT_CPU_S:.2f} CPU s, paid by every job before its work")

    methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in config["methods"]]
    if unknown:
        ap.error(f"--methods {unknown} not in the config's methods {list(config['methods'])}")
    trained: Path | None = None
    for method in methods:
        settings = job_settings(config, ds, "train", method)
        if args.steps:
            settings["train_subset"] = args.steps * settings["batch_size"]
        if args.epochs:
            settings["epochs"] = args.epochs
        if settings.get("validation") and args.val_points:
            settings["validation"] = {**settings["validation"], "n": args.val_points}
        run = make_run(method, config["methods"][method], 0).name
        model_path = work / ds / run / "model.pt"
        record = work / ds / run / "train.json"

        def train(settings=settings, run=run, model_path=model_path, record=record) -> None:
            jobs.train_job(settings, exe, ds, run, model_path, record)

        r = run_twice(train, args.top, not args.once, not args.no_profile, args.max_memory_gb)
        n_train = json.loads(record.read_text())["n_train"] if record.is_file() else None
        steps = settings["epochs"] * -(-n_train // settings["batch_size"]) if n_train else None
        r.update(run=run, steps=steps, batch_size=settings["batch_size"], epochs=settings["epochs"])
        report(
            f"train {run}: {steps or '?'} steps of {settings['batch_size']} (one job: epochs, validation, accuracy)",
            r,
        )
        out["jobs"][f"train/{run}"] = r
        if model_path.is_file():  # not where the profile stopped the job
            trained = trained or model_path

    model_path = args.model or trained
    if model_path is not None:
        names = suite_for_seed(config["attacks"], 0, True)
        if args.attacks is None:  # the default cascade, as far as the config has it
            names = [n for n in names if n in DEFAULT_ATTACKS.split(",")]
        elif args.attacks != "all":
            chosen = args.attacks.split(",")
            missing = [a for a in chosen if a not in names]
            if missing:
                ap.error(f"--attacks {missing} not in the seed-0 suite {names}")
            names = [n for n in names if n in chosen]
        settings = job_settings(config, ds, "evaluate", suite=attack_suite(config, names))
        if args.eval_points:
            settings["eval_subset"] = args.eval_points
            settings["eval_batch_size"] = min(settings["eval_batch_size"], args.eval_points)
        settings["eps"] = list(args.eps) if args.eps else [max(settings["eps"])]
        run = (
            model_path.parent.name
            if args.model
            else make_run(methods[0], config["methods"][methods[0]], 0).name
        )
        try:
            ident = jobs._identity(ds, run)
        except ValueError:  # a model directory not named as a run
            ident = {"dataset": ds, "run": run, "method": "unknown", "seed": 0, "hparams": {}}
        rec, npz = work / "eval" / "robustness.json", work / "eval" / "correct.npz"

        def evaluate() -> None:
            model = models.load_model(model_path)
            jobs.evaluate_job(settings, exe, ds, run, model_path, rec, npz, model=model, identity=ident)

        r = run_twice(evaluate, args.top, not args.once, not args.no_profile, args.max_memory_gb)
        records = json.loads(rec.read_text())["records"] if rec.is_file() else []
        r.update(model=str(model_path), points=settings["eval_subset"], attacks=names, eps=settings["eps"])
        r["attack_cpu_s"] = {}
        for x in records:
            r["attack_cpu_s"][x["attack"]] = round(
                r["attack_cpu_s"].get(x["attack"], 0.0) + (x["cpu_time_s"] or 0), 3
            )
        report(f"evaluate {model_path} on {settings['eval_subset']} points, ε {settings['eps']}", r)
        print(
            "CPU s per attack (records): " + ", ".join(f"{k} {v:.2f}" for k, v in r["attack_cpu_s"].items())
        )
        out["jobs"][f"evaluate/{run}"] = r
    return out


if __name__ == "__main__":
    main()
