"""Mutation score of the scientific core (issue 17): mutmut mutates one module at a time in a
scratch copy of the repository and runs only the tests that cover it. Not a timed test: minutes per
module on an idle core, far more on a busy machine. Run it under nice:

    nice -n 19 python benchmarks/mutation_score.py [--only stats.py ...] [--out benchmarks/mutation]

Writes <out>/mutation_score.json and <out>/mutation_score.txt: per module the mutants, killed,
survived, timed out (and mutmut's other outcomes), and the surviving mutants with their diffs.
Survivors are either killed by a new test or listed, with the reason, in
benchmarks/mutation/equivalent.md (equivalent, or not worth killing); the table's last column is
the share killed among the mutants not listed there. Measuring some modules keeps the other
modules' rows of an existing JSON. The tree under test is never modified.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import os
import re
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
    "stats.py": [
        "tests/test_stats.py",
        "tests/test_stats_reference.py",
        "tests/test_stats_edges.py",
        "tests/test_power.py",
    ],
    "claims.py": [
        "tests/test_claims.py",
        "tests/test_verdict_rules.py",
        "tests/test_verdicts.py",
        "tests/test_claims_edges.py",
    ],
    "masking.py": ["tests/test_masking.py", "tests/test_masking_reference.py", "tests/test_masking_edges.py"],
    "saliency.py": ["tests/test_saliency_metrics.py"],
    "methods.py": ["tests/test_methods.py", "tests/test_objectives_reference.py", "tests/test_mart.py"],
    "defenses/*": [
        "tests/test_mart.py",
        "tests/test_methods.py",
        "tests/test_registry.py",
        "tests/test_defenses_reference.py",
    ],
    "estimators.py": [
        "tests/test_estimators.py",
        "tests/test_methods.py",
        "tests/test_estimators_reference.py",
    ],
    "robustness/table.py": [
        "tests/test_robustness.py",
        "tests/test_attacks.py",
        "tests/test_robustness_table_edges.py",
    ],
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
    """Every mutant not killed, with its diff (read from mutmut's generated sources, not `mutmut show`,
    which takes seconds per mutant on a busy machine)."""
    out = subprocess.run([str(MUTMUT), "results"], cwd=cwd, env=env, capture_output=True, text=True).stdout
    rows, sources = [], {}
    for line in out.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if not name:
            continue
        rows.append({"mutant": name, "status": status, "diff": mutant_diff(cwd, name, sources)})
    return rows


def mutant_diff(cwd: Path, name: str, sources: dict) -> str:
    """Unified diff of one mutant's function against the original (mutmut 3 keeps both, as functions
    `<x_name>__mutmut_orig` and `<x_name>__mutmut_<k>`, in mutants/src)."""
    module, _, func = name.rpartition(".")
    if module not in sources:
        path = cwd / "mutants" / "src" / (module.replace(".", "/") + ".py")
        text = path.read_text()
        nodes = {
            n.name: n
            for n in ast.walk(ast.parse(text))
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        sources[module] = (text, nodes, path.relative_to(cwd / "mutants"))
    text, nodes, rel = sources[module]
    base = func.rpartition("__mutmut_")[0]
    orig, mutant = nodes.get(f"{base}__mutmut_orig"), nodes.get(func)
    if orig is None or mutant is None:
        return "(diff not found)"
    a = ast.get_source_segment(text, orig).replace(f"{base}__mutmut_orig", base).splitlines()
    b = ast.get_source_segment(text, mutant).replace(func, base).splitlines()
    return "\n".join(difflib.unified_diff(a, b, str(rel), str(rel), lineterm="", n=1))


def listed(path: Path) -> set[str]:
    """Mutant ids named (in backticks) in the equivalent / not-worth-killing list."""
    return set(re.findall(r"`(sagr\.[\w.ǁ]+__mutmut_\d+)`", path.read_text())) if path.exists() else set()


def with_listed(row: dict, names: set[str]) -> dict:
    """The row's count of listed survivors and its share killed among the mutants not listed."""
    if "error" in row:
        return row
    n = sum(s["mutant"] in names for s in row["not_killed"])
    rest = row["mutants"] - n
    return {**row, "listed": n, "killed_share_unlisted": round(row["killed"] / rest, 3) if rest else None}


def measure(
    module: str, tests: list[str], max_children: int, names: list[str] = (), cwd: Path | None = None
) -> dict:
    """Mutate and test one module (only the mutants ``names`` if given) in a fresh scratch copy, or in
    ``cwd``, a scratch copy of an earlier run (mutants and test mapping already generated)."""
    with tempfile.TemporaryDirectory(prefix="mutmut-") as tmp:
        cwd, env, run, seconds = mutmut_run(Path(tmp), cwd, module, tests, max_children, names)
        return collect(module, tests, cwd, env, run, seconds)


def mutant_env(cwd: Path) -> dict[str, str]:
    """The environment the tests of a scratch copy run in: the mutated copy (mutants/src), not the
    editable install, is what they import."""
    return {**os.environ, "PYTHONPATH": str(cwd / "mutants" / "src"), "PYTHONDONTWRITEBYTECODE": "1"}


def mutmut_run(
    tmp: Path, cwd: Path | None, module: str, tests: list[str], max_children: int, names: list[str]
) -> tuple[Path, dict, subprocess.CompletedProcess, float]:
    """`mutmut run` (on the mutants ``names`` only, if given) in ``cwd``, or in a fresh scratch copy
    made in ``tmp``: (cwd, env, the completed run, seconds)."""
    if cwd is None:
        cwd = tmp
        scratch_copy(cwd, module, tests)
    env = mutant_env(cwd)
    t0 = time.time()
    cmd = [str(MUTMUT), "run", "--max-children", str(max_children), *names]
    run = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if "Stopping early" in run.stdout:
        # Seen with mutmut 3.8.1 on a fresh mutants/ tree: the first stats pass finds no test for
        # any mutant; a second run on the generated tree collects them (observed, not understood).
        run = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    return cwd, env, run, time.time() - t0


def rerun_not_killed(old: dict, module: str, tests: list[str], max_children: int, cwd: Path | None) -> dict:
    """Test again only the mutants an earlier run of the same source did not kill (tests were added,
    so a killed mutant stays killed); the others keep their earlier outcome. Outcomes are read from
    mutmut's .meta files (its CLI takes minutes per call on a busy machine)."""
    from mutmut.stats import status_by_exit_code

    prev = old[module]
    names = [s["mutant"] for s in prev["not_killed"]]
    with tempfile.TemporaryDirectory(prefix="mutmut-") as tmp:
        cwd, env, run, seconds = mutmut_run(Path(tmp), cwd, module, tests, max_children, names)
        codes = {}
        for meta in (cwd / "mutants").rglob("*.meta"):
            codes.update(json.loads(meta.read_text()).get("exit_code_by_key", {}))
        sources: dict = {}
        still = [
            {"mutant": n, "status": status_by_exit_code[codes.get(n)], "diff": mutant_diff(cwd, n, sources)}
            for n in names
            if status_by_exit_code[codes.get(n)] != "killed"
        ]
    row = {"module": module, "tests": tests, "mutants": prev["mutants"], "seconds": round(seconds)}
    row["method"] = (
        f"re-run of the {len(names)} mutants the run of {prev.get('date', 'an earlier date')} did not kill; "
        "the others keep that run's outcome (same source)"
    )
    row.update({k: sum(s["status"].replace(" ", "_") == k for s in still) for k in OUTCOMES})
    row["killed"] = prev["mutants"] - len(still)
    row["killed_share"] = round(row["killed"] / row["mutants"], 3)
    row["not_killed"] = still
    if not codes:
        row["error"] = (run.stdout + run.stderr)[-3000:]
    return row


def collect(module: str, tests: list[str], cwd: Path, env: dict, run, seconds: float) -> dict:
    """The row of one module from a scratch copy where `mutmut run` has finished."""
    subprocess.run([str(MUTMUT), "export-cicd-stats"], cwd=cwd, env=env, capture_output=True, text=True)
    stats_file = cwd / "mutants" / "mutmut-cicd-stats.json"
    if not stats_file.exists():
        return {"module": module, "tests": tests, "error": (run.stdout + run.stderr)[-3000:]}
    stats = json.loads(stats_file.read_text())
    row = {"module": module, "tests": tests, "mutants": stats["total"]}
    row["seconds"] = round(seconds) if seconds == seconds else None  # None: not timed (--collect)
    row.update({k: stats.get(k, 0) for k in OUTCOMES})
    row["killed_share"] = round(stats["killed"] / stats["total"], 3) if stats["total"] else None
    if stats["killed"] + stats["survived"] + stats["timeout"] == 0:  # mutmut stopped before testing
        row["error"] = (run.stdout + run.stderr)[-3000:]
    row["not_killed"] = survivors(cwd, env)
    return row


def table(rows: list[dict]) -> str:
    head = (
        f"{'module':22} {'mutants':>7} {'killed':>7} {'survived':>8} {'timeout':>7} {'other':>5} "
        f"{'killed %':>8} {'listed':>6} {'killed % of unlisted':>20}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['module']:22} error: {r['error'].splitlines()[-1] if r['error'] else '?'}")
            continue
        other = sum(r[k] for k in ("no_tests", "suspicious", "skipped", "segfault"))
        share = f"{100 * r['killed_share']:.1f}" if r["killed_share"] is not None else "-"
        unlisted = r.get("killed_share_unlisted")
        unlisted = f"{100 * unlisted:.1f}" if unlisted is not None else "-"
        lines.append(
            f"{r['module']:22} {r['mutants']:7} {r['killed']:7} {r['survived']:8} {r['timeout']:7} {other:5} "
            f"{share:>8} {r.get('listed', 0):6} {unlisted:>20}"
        )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="modules to measure (keys of MODULES)")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "mutation")
    ap.add_argument("--max-children", type=int, default=1)
    ap.add_argument(
        "--collect",
        type=Path,
        help="only read the results of a scratch copy whose `mutmut run` finished (one module in --only); "
        "a copy stays in the temp folder when the script is killed",
    )
    ap.add_argument(
        "--rerun-not-killed",
        action="store_true",
        help="test only the mutants the last run (JSON) did not kill; valid while the module's source is unchanged",
    )
    ap.add_argument(
        "--rewrite",
        action="store_true",
        help="measure nothing: rewrite the table from the JSON and equivalent.md",
    )
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    json_file, txt_file = args.out / "mutation_score.json", args.out / "mutation_score.txt"
    old = _load(json_file, txt_file)
    names = listed(args.out / "equivalent.md")
    if args.rewrite:
        print(_write(old, names, json_file, txt_file))
        return 0
    if args.rerun_not_killed:
        for module in args.only:
            print(f"{module}: re-running the mutants not killed", flush=True)
            row = rerun_not_killed(old, module, MODULES[module], args.max_children, args.collect)
            print(_save(module, row, names, json_file, txt_file))
        return 0
    if args.collect:
        (module,) = args.only
        done = subprocess.CompletedProcess([], 0, "", "")
        row = collect(module, MODULES[module], args.collect, mutant_env(args.collect), done, float("nan"))
        print(_save(module, row, names, json_file, txt_file))
        return 0
    for module, tests in MODULES.items():
        if args.only and module not in args.only:
            continue
        print(f"{module}: mutating, tests {' '.join(tests)}", flush=True)
        print(_save(module, measure(module, tests, args.max_children), names, json_file, txt_file))
    return 0


def _load(json_file: Path, txt_file: Path) -> dict[str, dict]:
    """Every module's last row (JSON) with its survivors' diffs (text)."""
    rows = {r["module"]: r for r in json.loads(json_file.read_text())} if json_file.exists() else {}
    diffs = _diffs(txt_file.read_text()) if txt_file.exists() else {}
    for r in rows.values():
        for s in r.get("not_killed", []):
            s.setdefault("diff", diffs.get(s["mutant"], ""))
    return rows


def _save(module: str, row: dict, names: set[str], json_file: Path, txt_file: Path) -> str:
    """Write ``module``'s new row beside the other modules' rows as the files hold them now: re-read at
    write time, since another run (of another module) may have written them while this one ran."""
    rows = _load(json_file, txt_file)
    rows[module] = {**row, "date": time.strftime("%Y-%m-%d")}
    return _write(rows, names, json_file, txt_file)


def _diffs(text: str) -> dict[str, str]:
    """Survivors' diffs from a previous mutation_score.txt (the JSON keeps only names and status)."""
    out, name = {}, None
    for line in text.splitlines():
        m = re.match(r"^(sagr\.\S+__mutmut_\d+): \S", line)
        if m:
            name = m.group(1)
            out[name] = ""
        elif line.startswith("## "):
            name = None
        elif name:
            out[name] += line + "\n"
    return {k: v.strip() for k, v in out.items()}


def _write(rows_by_module: dict, names: set[str], json_file: Path, txt_file: Path) -> str:
    order = [m for m in MODULES if m in rows_by_module]
    rows = [with_listed(rows_by_module[m], names) for m in order]
    slim = [
        {**r, "not_killed": [{"mutant": s["mutant"], "status": s["status"]} for s in r.get("not_killed", [])]}
        for r in rows
    ]
    json_file.write_text(json.dumps(slim, indent=1, ensure_ascii=False) + "\n")
    text = table(rows)
    survivors_text = "\n\n".join(
        f"## {r['module']}\n"
        + "\n".join(
            f"{s['mutant']}: {s['status']}{' (listed)' if s['mutant'] in names else ''}\n{s['diff']}"
            for s in r.get("not_killed", [])
        )
        for r in rows
    )
    txt_file.write_text(text + "\n\n" + survivors_text + "\n")
    return text


if __name__ == "__main__":
    sys.exit(main())
