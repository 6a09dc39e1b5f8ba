"""A config's run time on N cores from its jobs' measured seconds: the lower bound, and Snakemake's schedule replayed without and with sagr.schedule's priorities.

On a shared machine wall time says little; every result file's provenance records the CPU seconds of
its job process (`cpu_time_s`). This script averages them per (job, dataset, method) over whatever jobs
of the config have finished (under --results), multiplies by the number of such jobs the config's
manifest asks for, and divides by the cores (perfect packing).

With every job of a run measured (or --fill for an unfinished one), it replays the DAG (fetch -> train
-> evaluate and saliency -> report -> PDF, the benchmark beside them) on N cores with each job's own
seconds from Snakemake's benchmark files (--times cpu: `cpu_time`, what the job needs of one idle core;
--times wall: `s`), starting ready jobs as Snakemake 9 does (see `schedule`): by `priority`, higher
first, in arbitrary order among equal priorities, drawn at random --draws times. Per core count it
compares with the lower bound max(job seconds / cores, critical path), computed from the same seconds
as the replay (a replay of wall seconds against a bound of CPU seconds would count the machine's
sharing as schedule loss), and a tighter one that also counts the run's serial start and end:

- Snakemake without priorities (every job 0: the order among ready jobs is arbitrary);
- Snakemake with sagr.schedule's priorities (the estimated CPU seconds of the longest chain a job starts);
- the same rule with each chain's measured seconds as priority (what a perfect cost model would give);
- with --log (the run's Snakemake log; for its own --cores): the order that run started its jobs in,
  replayed, beside its measured wall time (a check of the replay itself).

    python benchmarks/bench_run_budget.py --config config/config.yaml --results /tmp/run/results --cores 2 8 \
        --json budget.json [--log /tmp/run.log --log-cores 2]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from statistics import mean, median
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


from sagr.config import load  # noqa: E402
from sagr.files import read_json  # noqa: E402
from sagr.runs import manifest  # noqa: E402

JOB_FILES = {"train": "train.json", "evaluate": "robustness.json", "saliency": "saliency.json"}


def measure(config: dict, results: Path) -> tuple[list[dict], dict[str, float]]:
    """Rows {job, dataset, method, planned, measured, mean_cpu_s, total_cpu_s} and the grand totals."""
    planned: dict[tuple[str, str, str], int] = defaultdict(int)
    cpu: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for e in manifest(config):
        for job, name in JOB_FILES.items():
            key = (job, e.dataset, e.run.method)
            planned[key] += 1
            path = results / e.dataset / e.run.name / name
            if path.is_file():
                prov = read_json(path).get("provenance", {})  # verified, as every reader of a result
                if prov.get("cpu_time_s") is not None:
                    cpu[key].append(float(prov["cpu_time_s"]))
    rows, total, missing = [], 0.0, []
    for key, n in sorted(planned.items()):
        if not cpu[key]:
            missing.append("/".join(key))
            continue
        m = mean(cpu[key])
        rows.append(
            {
                "job": key[0],
                "dataset": key[1],
                "method": key[2],
                "planned": n,
                "measured": len(cpu[key]),
                "mean_cpu_s": round(m, 2),
                "total_cpu_s": round(m * n, 1),
            }
        )
        total += m * n
    return rows, {"total_cpu_s": round(total, 1), "unmeasured": missing}


def bench_column(path: Path, column: str) -> float | None:
    """One column of a job's Snakemake benchmark file (None where the file, the column or its value is missing)."""
    if not path.is_file():
        return None
    lines = path.read_text().splitlines()
    if len(lines) < 2:
        return None
    head, first = lines[0].split("\t"), lines[1].split("\t")
    value = first[head.index(column)] if column in head else "NA"
    return float(value) if value not in ("NA", "") else None


def _bench_seconds(path: Path, column: str = "s") -> float | None:
    """Seconds of one job from its Snakemake benchmark file, if it exists: ``column`` `s` (wall) or
    `cpu_time` (CPU seconds of the job's processes; the wall where a file has no such column)."""
    value = bench_column(path, column)
    return value if value is not None else bench_column(path, "s")


def job_graph(config: dict, results: Path, column: str = "s") -> dict[str, tuple[float | None, list[str]]]:
    """job id -> (measured seconds, benchmark file ``column``, or None; the job ids it waits for)."""
    bench = results / "benchmarks"

    def seconds(path: Path) -> float | None:
        return _bench_seconds(path, column)

    jobs: dict[str, tuple[float | None, list[str]]] = {}
    datasets = sorted({e.dataset for e in manifest(config)})
    for d in datasets:
        jobs[f"fetch/{d}"] = (seconds(bench / "fetch" / f"{d}.tsv"), [])
    for e in manifest(config):
        base = f"{e.dataset}/{e.run.name}"
        jobs[f"train/{base}"] = (seconds(bench / "train" / f"{base}.tsv"), [f"fetch/{e.dataset}"])
        for stage in ("evaluate", "saliency"):
            jobs[f"{stage}/{base}"] = (seconds(bench / stage / f"{base}.tsv"), [f"train/{base}"])
    if config["benchmark"]["enabled"]:
        d = config["benchmark"]["dataset"]
        jobs["benchmark_cost"] = (
            seconds(bench / "benchmark_cost.tsv"),
            [f"fetch/{d}"] if d in datasets else [],
        )
    jobs["render_report"] = (
        seconds(bench / "render_report.tsv"),
        [j for j in jobs if not j.startswith("fetch/")],
    )
    if (bench / "render_pdf.tsv").is_file():  # only where LaTeX was installed
        jobs["render_pdf"] = (seconds(bench / "render_pdf.tsv"), ["render_report"])
    return jobs


def simulate(
    jobs: dict[str, tuple[float | None, list[str]]],
    cores: int,
    priority: dict[str, float] | None = None,
    tiebreak: dict[str, float] | None = None,
    threads: dict[str, int] | None = None,
) -> float:
    """Wall seconds of the DAG on ``cores`` slots, ready jobs started as Snakemake 9's scheduler does."""
    return max((end for _, end in schedule(jobs, cores, priority, tiebreak, threads).values()), default=0.0)


def schedule(
    jobs: dict[str, tuple[float | None, list[str]]],
    cores: int,
    priority: dict[str, float] | None = None,
    tiebreak: dict[str, float] | None = None,
    threads: dict[str, int] | None = None,
) -> dict[str, tuple[float, float]]:
    """job -> (start, end) seconds when the DAG runs on ``cores`` cores as Snakemake 9 runs it.

    What Snakemake does (snakemake 9.27, read in the installed package): after every finished job,
    JobScheduler.schedule (snakemake/scheduling/job_scheduler.py) offers the selector every ready job
    (`dag.ready_jobs`, a `set` of Job objects, which hash by identity: no order) and the free cores. The
    default selector, the ILP of snakemake/scheduling/milp.py, maximises
    `2 * total_cores * 2 * temp_size * sum(priority * x) + 2 * temp_size * sum(cores * x) + (temp terms)`:
    priority first, then as many busy cores as fit; this workflow has no temp files. With one-thread jobs
    that is the highest priorities that fit, and among equal priorities (all of them when no rule sets
    one) any choice is optimal: the solver's pick from an unordered set, arbitrary. The greedy fallback
    (scheduling/greedy.py) ranks by `(priority, temp input size, input size)` the same way, taking the
    best job that still fits. So: at every event (time 0, a job's end), the ready jobs sorted by
    priority (higher first), ties by ``tiebreak`` (lower first; default: the order of ``jobs``), each
    started if its ``threads`` (default 1, at most ``cores``, as Snakemake scales them down) still fit.
    """
    import heapq

    priority = priority or {}
    order = {j: i for i, j in enumerate(jobs)}
    tiebreak = tiebreak or order
    threads = threads or {}
    need = {j: min(cores, max(1, threads.get(j, 1))) for j in jobs}
    waiting = {j: set(deps) for j, (_, deps) in jobs.items()}
    children: dict[str, list[str]] = defaultdict(list)
    for j, (_, deps) in jobs.items():
        for d in deps:
            children[d].append(j)
    ready = [j for j, w in waiting.items() if not w]
    running: list[tuple[float, int, str]] = []
    placed: dict[str, tuple[float, float]] = {}
    free, now = cores, 0.0
    while ready or running:
        ready.sort(key=lambda j: (-priority.get(j, 0), tiebreak[j], order[j]))
        for j in list(ready):
            if need[j] <= free:
                ready.remove(j)
                free -= need[j]
                end = now + (jobs[j][0] or 0.0)
                placed[j] = (now, end)
                heapq.heappush(running, (end, order[j], j))
        if not running:
            raise ValueError(f"jobs wait for inputs that never come: {sorted(ready)[:5]}")
        now = running[0][0]
        while running and running[0][0] == now:  # every job ending now is finished before the next pick
            _, _, done = heapq.heappop(running)
            free += need[done]
            for c in children[done]:
                waiting[c].discard(done)
                if not waiting[c]:
                    ready.append(c)
    return placed


def chain_seconds(jobs: dict[str, tuple[float | None, list[str]]]) -> dict[str, float]:
    """job -> measured seconds of the longest chain it starts (its own time and what waits for it)."""
    children: dict[str, list[str]] = defaultdict(list)
    for j, (_, deps) in jobs.items():
        for d in deps:
            children[d].append(j)
    memo: dict[str, float] = {}

    def tail(j: str) -> float:
        if j not in memo:
            memo[j] = (jobs[j][0] or 0.0) + max((tail(c) for c in children[j]), default=0.0)
        return memo[j]

    return {j: tail(j) for j in jobs}


def random_ties(jobs: dict, draws: int, seed: int = 0) -> list[dict[str, float]]:
    """``draws`` random orders of the jobs: Snakemake's arbitrary choice among equal priorities."""
    import random

    rng = random.Random(seed)
    out = []
    for _ in range(draws):
        keys = list(jobs)
        rng.shuffle(keys)
        out.append({j: i for i, j in enumerate(keys)})
    return out


def lower_bound(
    jobs: dict[str, tuple[float | None, list[str]]], cores: int, threads: dict[str, int] | None = None
) -> float:
    """No schedule on ``cores`` cores beats max(total core-seconds / cores, critical path)."""
    threads = threads or {}
    work = sum((t or 0.0) * min(cores, max(1, threads.get(j, 1))) for j, (t, _) in jobs.items())
    return max(work / cores, critical_path(jobs))


def tight_lower_bound(
    jobs: dict[str, tuple[float | None, list[str]]], cores: int, threads: dict[str, int] | None = None
) -> float:
    """A lower bound that also counts the work no core can share: for every job a and every job b that
    waits for it, the jobs strictly between them (a's dependents that b waits for) start after a ends
    and end before b starts, so the run takes at least
    a's earliest end + their core-seconds / cores + the chain from b on. With a = the data fetch and
    b = the report, the serial start and end of the run count in full, where
    max(total / cores, critical path) spreads them over the cores."""
    threads = threads or {}
    ids = list(jobs)
    index = {j: i for i, j in enumerate(ids)}
    t = {j: jobs[j][0] or 0.0 for j in ids}
    work = [t[j] * min(cores, max(1, threads.get(j, 1))) for j in ids]
    children: dict[str, list[str]] = defaultdict(list)
    for j, (_, deps) in jobs.items():
        for d in deps:
            children[d].append(j)
    anc: dict[str, int] = {}  # bitsets: ancestors-or-self, descendants-or-self
    desc: dict[str, int] = {}
    start: dict[str, float] = {}

    def up(j: str) -> int:
        if j not in anc:
            anc[j] = (1 << index[j]) | _or(up(d) for d in jobs[j][1])
            start[j] = max((start_of(d) + t[d] for d in jobs[j][1]), default=0.0)
        return anc[j]

    def start_of(j: str) -> float:
        up(j)
        return start[j]

    def down(j: str) -> int:
        if j not in desc:
            desc[j] = (1 << index[j]) | _or(down(c) for c in children[j])
        return desc[j]

    tail = chain_seconds(jobs)
    best = max(sum(work) / cores, critical_path(jobs))
    for a in ids:
        da = down(a)
        for b in ids:
            if a == b or not da >> index[b] & 1:
                continue
            between = da & up(b) & ~(1 << index[a]) & ~(1 << index[b])
            total = sum(work[i] for i in range(len(ids)) if between >> i & 1)
            best = max(best, start_of(a) + t[a] + total / cores + tail[b])
    return best


def _or(bits) -> int:
    out = 0
    for b in bits:
        out |= b
    return out


def library_priorities(config: dict) -> dict[str, int]:
    """The priority sagr.schedule gives every train/evaluate/saliency job (job ids of `job_graph`)."""
    from sagr.schedule import priorities

    return priorities(config)


def observed_order(log: Path, jobs: dict) -> tuple[dict[str, float], float | None]:
    """The start time of every job of ``jobs`` in a Snakemake log (its benchmark file names the job),
    and the log's wall seconds from the first job's start to the last job's end."""
    import re
    from datetime import datetime

    by_bench = {f"{j}.tsv": j for j in jobs}  # a job id is its benchmark file's name
    stamp = re.compile(r"^\[(\w{3} \w{3} +\d+ [\d:]+ \d{4})\]$")
    started: dict[str, float] = {}
    first = last = None
    now = None
    for line in log.read_text(errors="replace").splitlines():
        m = stamp.match(line.strip())
        if m:
            now = datetime.strptime(" ".join(m.group(1).split()), "%a %b %d %H:%M:%S %Y").timestamp()
            continue
        text = line.strip()
        if text.startswith("benchmark: ") and now is not None:
            name = text.split(": ", 1)[1].removeprefix("results/benchmarks/")
            if name in by_bench:
                started.setdefault(by_bench[name], now)
                first = now if first is None else min(first, now)
        elif text.startswith(("Finished job", "Finished jobid")) and now is not None:
            last = now
    t0 = min(started.values(), default=0.0)
    wall = None if first is None or last is None else last - first
    return {j: t - t0 for j, t in started.items()}, wall


def _stats(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {
        "median_s": round(median(values), 1),
        "min_s": round(values[0], 1),
        "p90_s": round(values[min(len(values) - 1, int(0.9 * len(values)))], 1),
        "max_s": round(values[-1], 1),
        "draws": len(values),
    }


def replay(
    jobs: dict[str, tuple[float | None, list[str]]],
    cores_list: list[int],
    prio: dict[str, int],
    draws: int,
    observed: dict[str, float] | None = None,
    observed_cores: int | None = None,
    threads: dict[str, int] | None = None,
) -> dict[int, dict[str, Any]]:
    """Per core count: the lower bound and each schedule's replayed wall seconds (random ties drawn)."""
    ties = random_ties(jobs, draws)
    measured_chain = chain_seconds(jobs)
    out: dict[int, dict[str, Any]] = {}
    for cores in cores_list:
        row: dict[str, Any] = {
            "lower_bound_s": round(lower_bound(jobs, cores, threads), 1),
            "tight_lower_bound_s": round(tight_lower_bound(jobs, cores, threads), 1),
        }
        for key, p in (
            ("no_priority", None),
            ("priority", prio),
            ("measured_chain_priority", measured_chain),
        ):
            row[key] = _stats([simulate(jobs, cores, p, t, threads) for t in ties])
        if observed and cores == observed_cores:
            # the run's own order: each job in the order it started (jobs it never logged last)
            late = max(observed.values(), default=0.0) + 1.0
            order = {j: observed.get(j, late) for j in jobs}
            row["observed_order_s"] = round(simulate(jobs, cores, None, order, threads), 1)
        out[cores] = row
    return out


def critical_path(jobs: dict[str, tuple[float | None, list[str]]]) -> float:
    """The longest chain of measured job times: the wall time with unlimited cores."""
    memo: dict[str, float] = {}

    def finish(j: str) -> float:
        if j not in memo:
            memo[j] = (jobs[j][0] or 0.0) + max((finish(d) for d in jobs[j][1]), default=0.0)
        return memo[j]

    return max(finish(j) for j in jobs)


#: Seconds given a job outside the cost model (fetch, benchmark, report) that an unfinished run has not
#: measured: the default run's report took about a minute before (an equal term in every schedule).
UNMODELLED_S = 60.0


def fill_unmeasured(
    config: dict, jobs: dict[str, tuple[float | None, list[str]]]
) -> tuple[dict[str, tuple[float | None, list[str]]], dict[str, str]]:
    """The DAG with a time for every train/evaluate/saliency job without one: the mean of the measured
    jobs of the same kind (stage, dataset, method and hyper-parameters, and for an evaluation the
    attack suite, which depends on the seed and the main comparison), else sagr.schedule's estimate
    times its stage's measured / estimated seconds. Returns the DAG and, per filled job, how."""
    from sagr.attack_kinds import suite_for_seed
    from sagr.schedule import job_costs

    kind: dict[str, tuple] = {}
    estimate: dict[str, float] = {}
    for e in manifest(config):
        costs = job_costs(config, e.dataset, e.run, e.main)
        hp = tuple(sorted(e.run.hp.items()))
        suite = tuple(suite_for_seed(config["attacks"], e.run.seed, e.main))
        for stage in ("train", "evaluate", "saliency"):
            j = f"{stage}/{e.dataset}/{e.run.name}"
            kind[j] = (stage, e.dataset) + ((e.run.method, hp) if stage != "saliency" else ())
            kind[j] += (suite,) if stage == "evaluate" else ()
            estimate[j] = costs[stage]
    same: dict[tuple, list[float]] = defaultdict(list)
    scale: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for j, (t, _) in jobs.items():
        if t is not None and j in kind:
            same[kind[j]].append(t)
            scale[kind[j][0]][0] += t
            scale[kind[j][0]][1] += estimate[j]
    out, how = dict(jobs), {}
    for j, (t, deps) in jobs.items():
        if t is not None:
            continue
        if j not in kind:  # fetch, the cost benchmark, the report: no model of their cost
            out[j] = (UNMODELLED_S, deps)
            how[j] = f"{UNMODELLED_S:g} s, a guess"
            continue
        if same[kind[j]]:
            out[j] = (mean(same[kind[j]]), deps)
            how[j] = f"same kind ({len(same[kind[j]])} measured)"
        else:
            measured, estimated = scale[kind[j][0]]
            factor = measured / estimated if estimated else 1.0
            out[j] = (estimate[j] * factor, deps)
            how[j] = f"cost model x {factor:.2f}"
    return out, how


def cost_model_check(config: dict, jobs: dict[str, tuple[float | None, list[str]]]) -> dict[str, Any]:
    """sagr.schedule's estimated seconds against each measured job: totals per stage, and the rank
    correlation (Spearman) over every train/evaluate/saliency job, which is what the priorities use."""
    from sagr.schedule import job_costs

    est, got = [], []
    per_stage: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for e in manifest(config):
        costs = job_costs(config, e.dataset, e.run.name, e.main)
        for stage, c in costs.items():
            t = jobs.get(f"{stage}/{e.dataset}/{e.run.name}", (None, []))[0]
            if t is None:
                continue
            est.append(c)
            got.append(t)
            per_stage[stage][0] += c
            per_stage[stage][1] += t

    def ranks(v: list[float]) -> list[float]:
        order = sorted(range(len(v)), key=v.__getitem__)
        r = [0.0] * len(v)
        i = 0
        while i < len(order):  # ties share their mean rank
            j = i
            while j + 1 < len(order) and v[order[j + 1]] == v[order[i]]:
                j += 1
            for k in range(i, j + 1):
                r[order[k]] = (i + j) / 2
            i = j + 1
        return r

    rho = None
    if len(est) > 2:
        a, b = ranks(est), ranks(got)
        ma, mb = mean(a), mean(b)
        cov = sum((x - ma) * (y - mb) for x, y in zip(a, b))
        var = (sum((x - ma) ** 2 for x in a) * sum((y - mb) ** 2 for y in b)) ** 0.5
        rho = round(cov / var, 3) if var else None
    return {
        "jobs": len(est),
        "spearman": rho,
        "per_stage_s": {
            k: {"estimated": round(v[0], 1), "measured": round(v[1], 1)} for k, v in per_stage.items()
        },
    }


def _minutes(row: dict[str, Any], key: str) -> str:
    st = row[key]
    return f"{st['median_s'] / 60:6.1f} [{st['min_s'] / 60:.1f}-{st['max_s'] / 60:.1f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--results", type=Path, required=True)
    ap.add_argument("--cores", type=int, nargs="+", default=[2])
    ap.add_argument(
        "--times",
        choices=("cpu", "wall"),
        default="cpu",
        help="replay each job's CPU seconds (what one idle core needs; default) or its wall seconds",
    )
    ap.add_argument(
        "--fill",
        action="store_true",
        help="replay an unfinished run: a job without a benchmark file gets the mean seconds of measured jobs "
        "of its kind (stage, method and hyper-parameters, attack suite), else the cost model's estimate scaled "
        "by its stage's measured / estimated seconds",
    )
    ap.add_argument("--draws", type=int, default=200, help="random orders among equal priorities")
    ap.add_argument("--log", type=Path, help="the run's Snakemake log: replay the order it started jobs in")
    ap.add_argument("--log-cores", type=int, default=2, help="the --cores of the run that wrote --log")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    config = load(args.config)  # schema defaults filled, as the Snakefile reads it
    rows, tot = measure(config, args.results)
    print(
        f"{'job':9s} {'dataset':14s} {'method':9s} {'planned':>7s} {'measured':>8s} {'mean CPU s':>10s} {'total':>8s}"
    )
    for r in rows:
        print(
            f"{r['job']:9s} {r['dataset']:14s} {r['method']:9s} {r['planned']:7d} {r['measured']:8d} "
            f"{r['mean_cpu_s']:10.1f} {r['total_cpu_s']:8.1f}"
        )
    bounds = {c: round(tot["total_cpu_s"] / c, 1) for c in args.cores}
    for c, wall in bounds.items():
        print(
            f"total CPU {tot['total_cpu_s']:.0f} s -> at least {wall / 60:.1f} min on {c} cores"
            + (f"; NOT measured: {', '.join(tot['unmeasured'])}" if tot["unmeasured"] else "")
        )
    jobs = job_graph(config, args.results, "cpu_time" if args.times == "cpu" else "s")
    unmeasured = sorted(j for j, (t, _) in jobs.items() if t is None)
    filled: dict[str, str] = {}
    if unmeasured and args.fill:
        jobs, filled = fill_unmeasured(config, jobs)
        unmeasured = sorted(j for j, (t, _) in jobs.items() if t is None)
        print(
            f"PARTIAL RUN: {len(filled)} of {len(jobs)} jobs have no benchmark file; their seconds are filled in "
            f"({sum(1 for v in filled.values() if v.startswith('same'))} from measured jobs of the same "
            f"kind, the rest from the cost model): {', '.join(sorted(filled)[:4])}"
            + (" ..." if len(filled) > 4 else "")
        )
    result: dict[int, dict[str, Any]] = {}
    path = None if unmeasured else critical_path(jobs)
    observed, observed_wall, check = None, None, None
    if unmeasured:
        print(f"DAG replay skipped: {len(unmeasured)} jobs have no benchmark file (e.g. {unmeasured[0]})")
    else:
        prio = library_priorities(config)
        if args.log:
            observed, observed_wall = observed_order(args.log, jobs)
        threads = {
            j: config["threads"]
            for j in jobs
            if j.startswith(("train/", "evaluate/", "saliency/")) or j == "benchmark_cost"
        }
        result = replay(jobs, args.cores, prio, args.draws, observed, args.log_cores, threads)
        check = cost_model_check(config, {j: v for j, v in jobs.items() if j not in filled})
        print(
            f"cost model (sagr.schedule) against the {check['jobs']} measured train/evaluate/saliency jobs: "
            f"rank correlation {check['spearman']}; seconds estimated / measured: "
            + ", ".join(
                f"{k} {v['estimated']:.0f} / {v['measured']:.0f}" for k, v in check["per_stage_s"].items()
            )
        )
        total = sum(t or 0.0 for t, _ in jobs.values())
        print(
            f"DAG replay of {len(jobs)} measured jobs ({args.times} seconds, {total / 60:.1f} min in all, critical path "
            f"{path / 60:.1f} min), Snakemake's order, minutes: median [min-max] over {args.draws} draws "
            "of the order among equal priorities"
        )
        print(
            f"{'cores':>5s} {'bound':>6s} {'tight':>6s} {'no priorities':>20s} {'sagr.schedule':>20s} "
            f"{'measured chains':>20s} {'observed order':>15s}"
        )
        for c, row in result.items():
            obs = f"{row['observed_order_s'] / 60:15.1f}" if "observed_order_s" in row else f"{'':15s}"
            print(
                f"{c:5d} {row['lower_bound_s'] / 60:6.1f} {row['tight_lower_bound_s'] / 60:6.1f} "
                f"{_minutes(row, 'no_priority'):>20s} {_minutes(row, 'priority'):>20s} "
                f"{_minutes(row, 'measured_chain_priority'):>20s} {obs}"
            )
        print(
            "bound: max(job seconds / cores, critical path); tight: also the serial start and end (see "
            "tight_lower_bound)"
        )
        for c, row in result.items():
            over = {
                k: 100 * (row[k]["max_s"] / row["lower_bound_s"] - 1) for k in ("no_priority", "priority")
            }
            print(
                f"  --cores {c}: {row['priority']['median_s'] / 60:.1f} min with priorities, at most "
                f"{over['priority']:.1f} % over the bound ({100 * (row['priority']['max_s'] / row['tight_lower_bound_s'] - 1):.1f} % "
                f"over the tight one); without, up to {over['no_priority']:.1f} %"
            )
        if observed_wall is not None:
            print(
                f"the logged run: {observed_wall / 60:.1f} min from its first job's start to its last job's end "
                f"({len(observed)} of {len(jobs)} jobs found in its log)"
            )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "rows": rows,
                    **tot,
                    "cores": args.cores,
                    "min_wall_s": bounds,
                    "critical_path_s": None if path is None else round(path, 1),
                    "replay": {str(c): r for c, r in result.items()},
                    "replay_wall_s": {str(c): r["priority"]["median_s"] for c, r in result.items()},
                    "observed_wall_s": None if observed_wall is None else round(observed_wall, 1),
                    "cost_model": check,
                    "draws": args.draws,
                    "times": args.times,
                    "filled": filled,
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
