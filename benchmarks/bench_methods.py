"""Time one training step of every method on the same model, batch and data.

    python benchmarks/bench_methods.py [--config config/config.yaml] [--out benchmarks/cost.json]

Prints a table and writes JSON with each method's ratio to a standard step. The pipeline
runs the same measurement as the `benchmark_cost` rule (results/benchmark/cost.json).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from sagr import cache, data, jobs  # noqa: E402
from sagr.benchmark import format_table  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=REPO / "config" / "config.yaml")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "cost.json")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: the config's)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per method (default: the config's)")
    args = parser.parse_args()
    config = yaml.safe_load(args.config.read_text())
    config.setdefault("benchmark", {}).setdefault("dataset", "mnist")
    config["benchmark"] = {"batch_size": 128, "steps": 20, "warmup": 3, **config["benchmark"]}
    if args.threads:
        config["threads"] = args.threads
    if args.steps:
        config["benchmark"]["steps"] = args.steps
    config.setdefault("data", {}).setdefault("root", "data")
    dataset = config["benchmark"]["dataset"]
    root = Path(config["data"]["root"])
    data.prepare_dataset(dataset, root, data.mirror_from_env(config["data"].get("mirror")))
    if not cache.split_path(root, dataset, "train").exists():
        cache.write_cache(root, dataset)
    result = jobs.benchmark_job(config, args.out)
    print(f"{dataset} / {result['arch']} / batch {result['batch_size']} / {result['threads']} thread(s)")
    print(format_table(result["rows"]))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
