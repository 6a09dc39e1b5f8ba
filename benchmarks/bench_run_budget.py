"""Extrapolate a config's run time on N cores from the CPU seconds its finished jobs recorded.

On a shared machine wall time says little; every result file's provenance records the CPU seconds of
its job process (`cpu_time_s`). This script averages them per (job, dataset, method) over whatever jobs
of the config have finished (under --results), multiplies by the number of such jobs the config's
manifest asks for, and divides by the cores (perfect packing: a lower bound on wall time).

With every job of a finished run measured, it also replays the DAG (fetch -> train -> evaluate and
saliency -> report -> PDF, the benchmark beside them) on N one-thread job slots with each job's own
measured time (Snakemake's benchmark files, `s`), picking ready jobs longest-first as a list scheduler:
the wall time that run would take with `--cores N`, and the critical path no core count beats.

    python benchmarks/bench_run_budget.py --config config/config.yaml --results /tmp/run/results --cores 2 8 \
        --json budget.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from statistics import mean

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


def _bench_seconds(path: Path) -> float | None:
    """Wall seconds of one job from its Snakemake benchmark file (column `s`), if it exists."""
    if not path.is_file():
        return None
    lines = path.read_text().splitlines()
    if len(lines) < 2:
        return None
    head, first = lines[0].split("\t"), lines[1].split("\t")
    return float(first[head.index("s")])


def job_graph(config: dict, results: Path) -> dict[str, tuple[float | None, list[str]]]:
    """job id -> (measured wall seconds or None, the job ids it waits for)."""
    bench = results / "benchmarks"
    jobs: dict[str, tuple[float | None, list[str]]] = {}
    datasets = sorted({e.dataset for e in manifest(config)})
    for d in datasets:
        jobs[f"fetch/{d}"] = (_bench_seconds(bench / "fetch" / f"{d}.tsv"), [])
    for e in manifest(config):
        base = f"{e.dataset}/{e.run.name}"
        jobs[f"train/{base}"] = (_bench_seconds(bench / "train" / f"{base}.tsv"), [f"fetch/{e.dataset}"])
        for stage in ("evaluate", "saliency"):
            jobs[f"{stage}/{base}"] = (_bench_seconds(bench / stage / f"{base}.tsv"), [f"train/{base}"])
    if config["benchmark"]["enabled"]:
        d = config["benchmark"]["dataset"]
        jobs["benchmark_cost"] = (
            _bench_seconds(bench / "benchmark_cost.tsv"),
            [f"fetch/{d}"] if d in datasets else [],
        )
    jobs["render_report"] = (
        _bench_seconds(bench / "render_report.tsv"),
        [j for j in jobs if not j.startswith("fetch/")],
    )
    jobs["render_pdf"] = (_bench_seconds(bench / "render_pdf.tsv"), ["render_report"])
    return jobs


def simulate(jobs: dict[str, tuple[float | None, list[str]]], cores: int) -> float:
    """Wall seconds of the DAG on ``cores`` one-thread slots, ready jobs started longest-first."""
    import heapq

    waiting = {j: set(deps) for j, (_, deps) in jobs.items()}
    children: dict[str, list[str]] = defaultdict(list)
    for j, (_, deps) in jobs.items():
        for d in deps:
            children[d].append(j)
    ready = sorted((j for j, w in waiting.items() if not w), key=lambda j: -(jobs[j][0] or 0.0))
    running: list[tuple[float, str]] = []
    now = 0.0
    while ready or running:
        while ready and len(running) < cores:
            j = ready.pop(0)
            heapq.heappush(running, (now + (jobs[j][0] or 0.0), j))
        now, done = heapq.heappop(running)
        for c in children[done]:
            waiting[c].discard(done)
            if not waiting[c]:
                ready.append(c)
        ready.sort(key=lambda j: -(jobs[j][0] or 0.0))
    return now


def critical_path(jobs: dict[str, tuple[float | None, list[str]]]) -> float:
    """The longest chain of measured job times: the wall time with unlimited cores."""
    memo: dict[str, float] = {}

    def finish(j: str) -> float:
        if j not in memo:
            memo[j] = (jobs[j][0] or 0.0) + max((finish(d) for d in jobs[j][1]), default=0.0)
        return memo[j]

    return max(finish(j) for j in jobs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--results", type=Path, required=True)
    ap.add_argument("--cores", type=int, nargs="+", default=[2])
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
    jobs = job_graph(config, args.results)
    unmeasured = sorted(j for j, (t, _) in jobs.items() if t is None)
    replay: dict[int, float] = {}
    path = None if unmeasured else critical_path(jobs)
    if unmeasured:
        print(f"DAG replay skipped: {len(unmeasured)} jobs have no benchmark file (e.g. {unmeasured[0]})")
    else:
        print(
            f"DAG replay of {len(jobs)} measured jobs (one thread each; critical path {path / 60:.1f} min):"
        )
        for c in args.cores:
            replay[c] = round(simulate(jobs, c), 1)
            print(f"  --cores {c}: {replay[c] / 60:.1f} min")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "rows": rows,
                    **tot,
                    "cores": args.cores,
                    "min_wall_s": bounds,
                    "replay_wall_s": replay,
                    "critical_path_s": None if path is None else round(path, 1),
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
