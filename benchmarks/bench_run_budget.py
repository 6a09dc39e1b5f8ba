"""Extrapolate a config's run time on N cores from the CPU seconds its finished jobs recorded.

On a shared machine wall time says little; every result file's provenance records the CPU seconds of
its job process (`cpu_time_s`). This script averages them per (job, dataset, method) over whatever jobs
of the config have finished (under --results), multiplies by the number of such jobs the config's
manifest asks for, and divides by the cores (perfect packing: a lower bound on wall time).

    python benchmarks/bench_run_budget.py --config config/config.yaml --results /tmp/run/results --cores 2 \
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
                prov = json.loads(path.read_text()).get("provenance", {})
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--results", type=Path, required=True)
    ap.add_argument("--cores", type=int, default=2)
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
    wall = tot["total_cpu_s"] / args.cores
    print(
        f"total CPU {tot['total_cpu_s']:.0f} s -> at least {wall / 60:.1f} min on {args.cores} cores"
        + (f"; NOT measured: {', '.join(tot['unmeasured'])}" if tot["unmeasured"] else "")
    )
    if args.json:
        args.json.write_text(
            json.dumps({"rows": rows, **tot, "cores": args.cores, "min_wall_s": round(wall, 1)}, indent=1)
        )


if __name__ == "__main__":
    main()
