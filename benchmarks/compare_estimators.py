"""Worst-case robust accuracy of SAGR trained with two estimators, pooled over seeds, with 95% CIs.

    python benchmarks/compare_estimators.py [--results results] [--dataset mnist]
        [--base sagr_lam1_beta0.5_T1_decoupled_projection_n1] [--other ..._jvp_n1] [--seeds 0 1]
        [--out benchmarks/estimator_robustness.json]

The rule for the default estimator (issue 12): the fastest estimator whose worst case at every ε
lies inside the Clopper-Pearson 95% interval of the projection estimator's. Points pooled over
seeds (each seed evaluates the same points, so the pooled n counts every point once per seed).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from scipy.stats import binomtest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from sagr.files import read_json  # noqa: E402


def pooled_worst_case(results: Path, dataset: str, run: str, seeds: list[int]) -> dict[float, dict]:
    """ε -> {n, n_correct, accuracy, ci} of the worst case, summed over seeds."""
    out: dict[float, dict] = {}
    for seed in seeds:
        path = results / dataset / f"{run}_seed{seed}" / "robustness.json"
        if not path.exists():
            sys.exit(f"missing {path}: run the pipeline for this run and seed first")
        for w in read_json(path)["worst_case"]:  # verified, as every reader of a result
            if w.get("norm", "linf") != "linf":
                continue
            n = int(w["n"])
            k = int(w["n_correct"]) if "n_correct" in w else round(w["accuracy"] * n)
            acc = out.setdefault(float(w["eps"]), {"n": 0, "n_correct": 0})
            acc["n"] += n
            acc["n_correct"] += k
    for v in out.values():
        v["accuracy"] = v["n_correct"] / v["n"]
        ci = binomtest(v["n_correct"], v["n"]).proportion_ci(0.95, method="exact")  # Clopper-Pearson
        v["ci95"] = [float(ci.low), float(ci.high)]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", type=Path, default=REPO / "results")
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--base", default="sagr_lam1_beta0.5_T1_decoupled_projection_n1")
    p.add_argument("--other", default="sagr_lam1_beta0.5_T1_decoupled_jvp_n1")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "estimator_robustness.json")
    args = p.parse_args()
    base = pooled_worst_case(args.results, args.dataset, args.base, args.seeds)
    other = pooled_worst_case(args.results, args.dataset, args.other, args.seeds)
    rows, within = [], True
    print(f"{'eps':>5} {'n':>5} {args.base[-20:]:>22} {'95% CI':>15} {args.other[-20:]:>22} {'inside':>7}")
    for eps in sorted(base):
        b, o = base[eps], other.get(eps)
        inside = o is not None and b["ci95"][0] <= o["accuracy"] <= b["ci95"][1]
        within &= inside
        rows.append({"eps": eps, "base": b, "other": o, "other_inside_base_ci": inside})
        print(
            f"{eps:>5g} {b['n']:>5} {100 * b['accuracy']:>21.1f}% {100 * b['ci95'][0]:>6.1f}–{100 * b['ci95'][1]:.1f}% "
            f"{100 * o['accuracy'] if o else float('nan'):>21.1f}% {str(inside):>7}"
        )
    print(f"{args.other} within {args.base}'s 95% CI at every eps: {within}")
    args.out.write_text(
        json.dumps(
            {
                "dataset": args.dataset,
                "base": args.base,
                "other": args.other,
                "seeds": args.seeds,
                "rows": rows,
                "within_ci_at_every_eps": within,
            },
            indent=1,
        )
    )
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
