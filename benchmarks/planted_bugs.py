"""Plant each bug of issues 17 and 27 in a scratch copy of src/, one at a time, and run the tests that
should catch it: every row must say "caught". Not a timed test (minutes; run it after a change of
the tests or of the code they guard):

    PYTHONPATH=src nice -n 19 python benchmarks/planted_bugs.py [--only NAME ...] [--json out.json]

A bug whose source text is no longer found (the code moved) is reported as "not applicable": update
its `old` text. The tree under test is never modified.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Bug:
    name: str
    file: str  # under src/sagr/
    old: str
    new: str
    tests: tuple[str, ...]  # pytest arguments (files, -k expressions)
    nth: int = 1  # which occurrence of `old` to replace (1 = the first; it must exist)


STATS = ("tests/test_stats_reference.py",)
CLAIMS = ("tests/test_verdict_rules.py",)
MASKING = ("tests/test_masking_reference.py",)
OBJECTIVES = ("tests/test_objectives_reference.py",)
SALIENCY = ("tests/test_saliency_metrics.py",)
CELLS = ("tests/test_report_cells.py",)

BUGS = [
    # statistics (stats.py)
    Bug(
        "stats: seed part of the SE dropped", "stats.py", "parts.append((se_seeds, seeds - 1))", "pass", STATS
    ),
    Bug(
        "stats: point part of the SE dropped",
        "stats.py",
        "parts = [(se_points, n - 1)]",
        "parts = [(0.0, n - 1)]",
        STATS,
    ),
    Bug(
        "stats: normal instead of t quantile",
        "stats.py",
        "half = _quantile(0.5 + level / 2, df) * se",
        "half = _quantile(0.5 + level / 2, math.inf) * se",
        STATS,
    ),
    Bug(
        "stats: df = n − 1 instead of Welch–Satterthwaite",
        "stats.py",
        'return math.sqrt(var), var**2 / denom if denom > 0 else float("inf")',
        "return math.sqrt(var), n - 1",
        STATS,
    ),
    Bug(
        "stats: level ignored",
        "stats.py",
        "half = _quantile(0.5 + level / 2, df) * se",
        "half = _quantile(0.5 + 0.95 / 2, df) * se",
        STATS,
    ),
    Bug(
        "stats: unpaired variance",
        "stats.py",
        "se_points = float(d.mean(axis=0).std(ddof=1) / math.sqrt(n))",
        "se_points = float(np.sqrt(a[:, shared].mean(axis=0).var(ddof=1) + b[:, shared].mean(axis=0).var(ddof=1)) / math.sqrt(n))",
        STATS,
    ),
    Bug(
        "stats: summary difference with (sd_a + sd_b)/√n",
        "stats.py",
        "np.sqrt(a_sds**2 + b_sds**2)",
        "(a_sds + b_sds)",
        STATS,
    ),
    Bug(
        "stats: unanimous interval with 1 − u instead of 1 − 2u",
        "stats.py",
        "(1.0 - 2 * u, 1.0) if value > 0 else (-1.0, -1.0 + 2 * u)",
        "(1.0 - u, 1.0) if value > 0 else (-1.0, -1.0 + u)",
        STATS,
    ),
    Bug(
        "stats: Clopper–Pearson rounds a seed-mean k",
        "stats.py",
        "lo = 0.0 if k <= 0 else float(sps.beta.ppf(a, k, n - k + 1))",
        "lo = 0.0 if k <= 0 else float(sps.beta.ppf(a, round(k), n - round(k) + 1))",
        STATS,
    ),
    # verdicts (claims.py)
    Bug(
        "claims: contradicted needs every comparison",
        "claims.py",
        "if any(d.significant * c.sign < 0 for c, d in used if not c.premise)",
        "if all(d.significant * c.sign < 0 for c, d in used if not c.premise)",
        CLAIMS,
    ),
    Bug(
        "claims: a premise can contradict",
        "claims.py",
        "if any(d.significant * c.sign < 0 for c, d in used if not c.premise)",
        "if any(d.significant * c.sign < 0 for c, d in outcomes)",
        CLAIMS,
    ),
    Bug(
        "claims: no Bonferroni widening",
        "claims.py",
        "level = 1 - ALPHA / max(k, 1)",
        "level = 1 - ALPHA",
        CLAIMS,
    ),
    # masking checks (masking.py)
    Bug(
        "masking: no Bonferroni division",
        "masking.py",
        "level = MASKING_ALPHA / self.m",
        "level = MASKING_ALPHA",
        MASKING,
    ),
    Bug(
        "masking: Bonferroni division twice",
        "masking.py",
        "level = MASKING_ALPHA / self.m",
        "level = MASKING_ALPHA / self.m / self.m",
        MASKING,
    ),
    Bug("masking: chance null 0.5 instead of 1/C", "masking.py", "1.0 / n_classes", "0.5", MASKING),
    # objectives (methods.py, defenses/mart.py)
    Bug(
        "objective: JR with λ instead of λ/2",
        "methods.py",
        'ce + 0.5 * hp["lam"] * reg',
        'ce + hp["lam"] * reg',
        OBJECTIVES,
        nth=1,
    ),
    Bug(
        "objective: SAGR with λ instead of λ/2",
        "methods.py",
        'ce + 0.5 * hp["lam"] * reg',
        'ce + hp["lam"] * reg',
        OBJECTIVES,
        nth=2,
    ),
    Bug(
        "objective: IGR with λ/2 instead of λ",
        "methods.py",
        'ce + hp["lam"] * reg',
        'ce + 0.5 * hp["lam"] * reg',
        OBJECTIVES,
    ),
    Bug("objective: TRADES ignores β", "methods.py", 'ce + hp["beta_trades"] * kl', "ce + kl", OBJECTIVES),
    Bug(
        "objective: TRADES KL reversed",
        "methods.py",
        "F.kl_div(F.log_softmax(model(x_adv), dim=1), F.softmax(logits, dim=1)",
        "F.kl_div(F.log_softmax(logits, dim=1), F.softmax(model(x_adv), dim=1)",
        OBJECTIVES,
    ),
    Bug(
        "objective: PGD-AT trains on clean inputs",
        "methods.py",
        "model(pgd_examples(model, x, y, hp))",
        "model(x)",
        OBJECTIVES,
    ),
    Bug("objective: SAGR ignores T", "methods.py", "(z / T)", "(z / 1.0)", OBJECTIVES),
    Bug(
        "gradient: JR penalty detached",
        "methods.py",
        "reg = pen.mean()",
        "reg = pen.mean().detach()",
        ("tests/test_methods.py", "-k", "gradient"),
        nth=1,
    ),
    Bug(
        "gradient: jvp estimator's penalty detached",
        "estimators.py",
        "return jvp_weighted_jacobian_norm(model, x, weights_fn, n_proj, generator)",
        "logits, pen = jvp_weighted_jacobian_norm(model, x, weights_fn, n_proj, generator); return logits, pen.detach()",
        ("tests/test_estimators.py", "-k", "trains_every_weight"),
    ),
    Bug(
        "gradient: MART's clean probabilities detached",
        "defenses/mart.py",
        "p_nat = F.softmax(model(x), dim=1)",
        "p_nat = F.softmax(model(x), dim=1).detach()",
        ("tests/test_mart.py", "-k", "gradient"),
    ),
    # attacks
    Bug(
        "attack: FGSM returns its input",
        "attacks.py",
        "return torchattacks.FGSM(model, eps=eps)",
        "return torchattacks.VANILA(model)",
        ("tests/test_attacks_break.py",),
    ),
    # what is measured (issue 27): the split, the held-out images, the restarts, the L2 rule
    Bug(
        "measured: evaluation on the training split",
        "jobs.py",
        "xt, yt = cache.load(Path(root), dataset, train=False)",
        "xt, yt = cache.load(Path(root), dataset, train=True)",
        ("tests/test_measured.py", "-k", "evaluation_points"),
    ),
    Bug(
        "measured: validation images left in the training set",
        "jobs.py",
        "x, y = x[rest], y[rest]",
        "pass",
        ("tests/test_measured.py", "-k", "validation"),
    ),
    Bug(
        "measured: restarts dropped (first restart only)",
        "attacks.py",
        "return attacks[0] if len(attacks) == 1 else torchattacks.MultiAttack(attacks, verbose=False)",
        "return attacks[0]",
        ("tests/test_measured.py", "-k", "restart"),
    ),
    Bug(
        "measured: L2 robust iff ||delta||2 > eps, whatever C&W returned",
        "robustness/runner.py",
        'ok = still | (l2 > eps) if step.norm == "l2" else still',
        'ok = (l2 > eps) if step.norm == "l2" else still',
        ("tests/test_measured.py", "-k", "l2"),
    ),
    # saliency metrics (saliency.py)
    Bug("saliency: Gini weights off by one", "saliency.py", "(2 * i - n - 1)", "(2 * i - n)", SALIENCY),
    Bug(
        "saliency: entropy not normalised",
        "saliency.py",
        "return h / np.log(s.shape[1])",
        "return h",
        SALIENCY,
    ),
    Bug("saliency: alignment signed", "saliency.py", "(xf * gf).sum(1).abs()", "(xf * gf).sum(1)", SALIENCY),
    Bug(
        "saliency: map of signed gradients",
        "saliency.py",
        "return grad.abs().sum(1)",
        "return grad.sum(1)",
        SALIENCY,
    ),
    Bug(
        "saliency: foreground includes the threshold",
        "saliency.py",
        "> FOREGROUND_THRESHOLD",
        ">= FOREGROUND_THRESHOLD",
        SALIENCY,
    ),
    # the report's cells (presentation.py)
    Bug(
        "report: [low, low] in a difference cell",
        "presentation.py",
        "{scale * high:+.{digits}f}]",
        "{scale * low:+.{digits}f}]",
        CELLS,
    ),
    Bug(
        "report: ×100 dropped from a difference's estimate",
        "presentation.py",
        "{scale * estimate:+.{digits}f} [",
        "{estimate:+.{digits}f} [",
        CELLS,
    ),
]


def plant(text: str, bug: Bug) -> str | None:
    """`text` with the nth occurrence of bug.old replaced (None if there is no such occurrence)."""
    at = -1
    for _ in range(bug.nth):
        at = text.find(bug.old, at + 1)
        if at < 0:
            return None
    return text[:at] + bug.new + text[at + len(bug.old) :]


def run(bugs: list[Bug], python: str) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / "src"
        shutil.copytree(REPO / "src", scratch, ignore=shutil.ignore_patterns("__pycache__"))
        for beside in ("workflow", "config"):  # found relative to the package (the config schema)
            (Path(tmp) / beside).symlink_to(REPO / beside)
        for bug in bugs:
            target = scratch / "sagr" / bug.file
            original = (REPO / "src" / "sagr" / bug.file).read_text()
            planted = plant(original, bug)
            if planted is None:
                rows.append({**asdict(bug), "result": "not applicable (source text not found)"})
                continue
            target.write_text(planted)
            env = {**os.environ, "PYTHONPATH": str(scratch), "PYTHONDONTWRITEBYTECODE": "1"}
            cmd = [python, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *bug.tests]
            proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
            target.write_text(original)
            last = (proc.stdout.strip().splitlines() or [""])[-1]
            result = (
                "caught"
                if proc.returncode == 1
                else "NOT CAUGHT"
                if proc.returncode == 0
                else f"error {proc.returncode}"
            )
            rows.append({**asdict(bug), "result": result, "pytest": last})
            print(f"{result:12} {bug.name}  [{' '.join(bug.tests)}]  {last}", flush=True)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="substrings of bug names to run")
    ap.add_argument("--json", type=Path, help="write the rows here")
    args = ap.parse_args()
    bugs = [b for b in BUGS if not args.only or any(s in b.name for s in args.only)]
    rows = run(bugs, sys.executable)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n")
    missed = [r["name"] for r in rows if r["result"] != "caught"]
    print(
        f"{len(rows) - len(missed)} of {len(rows)} planted bugs caught"
        + (f"; not: {missed}" if missed else "")
    )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
