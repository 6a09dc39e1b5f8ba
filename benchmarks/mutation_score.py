"""Mutation score of the scientific core (issue 17): mutmut mutates one module at a time in a
scratch copy of the repository and runs only the tests that cover it. Not a timed test: minutes per
module on an idle core, far more on a busy machine. Run it under nice:

    nice -n 19 python benchmarks/mutation_score.py [--only stats.py ...] [--out benchmarks/mutation]

Writes <out>/mutation_score.json and <out>/mutation_score.txt: per module the mutants, killed,
survived, timed out (and mutmut's other outcomes), and the surviving mutants with their diffs.
Survivors are either killed by a new test or listed with the reason they are equivalent in
benchmarks/mutation_equivalent.md. The tree under test is never modified.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MUTMUT = Path(sys.executable).with_name("mutmut")

# module (under src/sagr/) -> the test files that cover it
MODULES: dict[str, list[str]] = {
    "stats.py": ["tests/test_stats.py", "tests/test_stats_reference.py", "tests/test_power.py"],
    "claims.py": ["tests/test_claims.py", "tests/test_verdict_rules.py", "tests/test_verdicts.py"],
    "masking.py": ["tests/test_masking.py", "tests/test_masking_reference.py"],
    "saliency.py": ["tests/test_saliency_metrics.py"],
    "methods.py": ["tests/test_methods.py", "tests/test_objectives_reference.py", "tests/test_mart.py"],
    "defenses/*": ["tests/test_mart.py", "tests/test_methods.py", "tests/test_registry.py"],
    "estimators.py": ["tests/test_estimators.py", "tests/test_methods.py"],
    "robustness/table.py": ["tests/test_robustness.py", "tests/test_attacks.py"],
}
OUTCOMES = ("killed", "survived", "timeout", "no_tests", "suspicious", "skipped", "segfault")
COPY = ("src", "tests", "config", "workflow", "pyproject.toml")


def scratch_copy(dest: Path, module: str, tests: list[str]) -> None:
    for name in COPY:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, dest / name)
    config = f"""

[tool.mutmut]
source_paths = ["src"]
only_mutate = ["src/sagr/{module}"]
pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-x"]
pytest_add_cli_args_test_selection = {json.dumps(tests)}
also_copy = ["config", "workflow"]
use_git_change_detection = false
"""
    with open(dest / "pyproject.toml", "a") as f:
        f.write(config)


def survivors(cwd: Path, env: dict) -> list[dict]:
    out = subprocess.run([str(MUTMUT), "results"], cwd=cwd, env=env, capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if not name:
            continue
        diff = subprocess.run(
            [str(MUTMUT), "show", name], cwd=cwd, env=env, capture_output=True, text=True
        ).stdout
        rows.append({"mutant": name, "status": status, "diff": diff.strip()})
    return rows


def measure(module: str, tests: list[str], max_children: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="mutmut-") as tmp:
        cwd = Path(tmp)
        scratch_copy(cwd, module, tests)
        # The mutated copy (mutants/src), not the editable install, is what the tests import.
        env = {**os.environ, "PYTHONPATH": str(cwd / "mutants" / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
        t0 = time.time()
        cmd = [str(MUTMUT), "run", "--max-children", str(max_children)]
        run = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
        if "Stopping early" in run.stdout:
            # Seen with mutmut 3.8.1 on a fresh mutants/ tree: the first stats pass finds no test for
            # any mutant; a second run on the generated tree collects them (observed, not understood).
            run = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
        seconds = time.time() - t0
        subprocess.run([str(MUTMUT), "export-cicd-stats"], cwd=cwd, env=env, capture_output=True, text=True)
        stats_file = cwd / "mutants" / "mutmut-cicd-stats.json"
        if not stats_file.exists():
            return {"module": module, "tests": tests, "error": (run.stdout + run.stderr)[-3000:]}
        stats = json.loads(stats_file.read_text())
        row = {"module": module, "tests": tests, "mutants": stats["total"], "seconds": round(seconds)}
        row.update({k: stats.get(k, 0) for k in OUTCOMES})
        row["killed_share"] = round(stats["killed"] / stats["total"], 3) if stats["total"] else None
        if stats["killed"] + stats["survived"] + stats["timeout"] == 0:  # mutmut stopped before testing
            row["error"] = (run.stdout + run.stderr)[-3000:]
        row["not_killed"] = survivors(cwd, env)
        return row


def table(rows: list[dict]) -> str:
    head = f"{'module':22} {'mutants':>7} {'killed':>7} {'survived':>8} {'timeout':>7} {'other':>5} {'killed %':>8}"
    lines = [head, "-" * len(head)]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['module']:22} error: {r['error'].splitlines()[-1] if r['error'] else '?'}")
            continue
        other = sum(r[k] for k in ("no_tests", "suspicious", "skipped", "segfault"))
        share = f"{100 * r['killed_share']:.1f}" if r["killed_share"] is not None else "-"
        lines.append(
            f"{r['module']:22} {r['mutants']:7} {r['killed']:7} {r['survived']:8} {r['timeout']:7} {other:5} {share:>8}"
        )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="modules to measure (keys of MODULES)")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "mutation")
    ap.add_argument("--max-children", type=int, default=1)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for module, tests in MODULES.items():
        if args.only and module not in args.only:
            continue
        print(f"{module}: mutating, tests {' '.join(tests)}", flush=True)
        rows.append(measure(module, tests, args.max_children))
        (args.out / "mutation_score.json").write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n")
    text = table(rows)
    survivors_text = "\n\n".join(
        f"## {r['module']}\n"
        + "\n".join(f"{s['mutant']}: {s['status']}\n{s['diff']}" for s in r.get("not_killed", []))
        for r in rows
    )
    (args.out / "mutation_score.txt").write_text(text + "\n\n" + survivors_text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
