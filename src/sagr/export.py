"""RobustBench-style model-info JSON for every evaluated model of a pipeline run.

RobustBench lists a model with a small JSON (name, architecture, dataset, threat model, ε,
clean and AutoAttack accuracy in %). We write one per (dataset, run) from its
robustness.json and train.json. Its ``autoattack_acc`` is the model's worst case over every
attack at the threat model's ε (the largest L∞ budget), which is AutoAttack-strength when the
suite ran APGD-CE and APGD-T at full strength on every point (the torchattacks cascade) or the
reference AutoAttack on every point; a weaker worst case is not passed off as AutoAttack: the
field stays empty and the footnote says why. Beyond RobustBench's fields, ``evaluations`` gives
each ε's worst case with what produced it, its n and its 95 % interval.
"""

from __future__ import annotations

import math
from contextlib import ExitStack, suppress
from fractions import Fraction
from pathlib import Path
from typing import Any

from .attack_kinds import Role
from .files import atomic_path, dump_json
from .job_records import TrainRecord
from .robustness import CLEAN, AttackRecord, ModelResult, Points, WorstCase
from .robustness.budgets import is_budget
from .robustness.io import read_result
from .stats import LEVEL, clopper_pearson

PAPER_LINK = "https://doi.org/10.1109/TIFS.2023.3289000"


def fmt_eps(eps: float) -> str:
    """8/255 for 0.0313725…, 0.3 for 0.3: RobustBench writes ε as it is usually quoted."""
    frac = Fraction(eps).limit_denominator(255)
    if frac.denominator == 255 and abs(float(frac) - eps) < 1e-9:
        return f"{frac.numerator}/255"
    return f"{eps:g}"


def _pct(acc: float) -> str:
    return f"{100 * acc:.2f}"


def evaluation(worst: WorstCase, records: list[AttackRecord]) -> dict[str, Any]:
    """One ε's worst case: accuracy, n, interval, and what produced it.

    ``produced_by``: "reference AutoAttack" when the reference implementation ran on every point
    the worst case counts; else "torchattacks cascade" (with its ``components``, in the order they
    ran) when cascade attacks finished the points the fixed attacks left; else "worst case over
    the attacks".
    """
    at = [r for r in records if r.norm == "linf" and r.eps == worst.eps]
    n = int(worst.n)
    k = int(worst.n_correct) if worst.n_correct is not None else round(worst.accuracy * n)
    low, high = clopper_pearson(k, n)
    refs = [r for r in at if r.role == Role.REFERENCE.value]
    full_ref = [r for r in refs if r.points == Points.ALL.value and r.n >= n]
    cascade = [r for r in at if r.points == Points.CASCADE.value and r.role != Role.REFERENCE.value]
    if full_ref:
        produced = "reference AutoAttack"
    elif cascade:
        produced = "torchattacks cascade"
    else:
        produced = "worst case over the attacks"
    return {
        "eps": fmt_eps(worst.eps),
        "eps_value": worst.eps,
        "accuracy": _pct(worst.accuracy),
        "n": n,
        "n_correct": k,
        "ci_low": _pct(low),
        "ci_high": _pct(high),
        "ci_level": LEVEL,
        "autoattack_strength": bool(worst.apgd_strength or full_ref),
        "produced_by": produced,
        "components": [{"attack": r.attack, "kind": r.kind, "n": int(r.n)} for r in cascade],
        "attacks": list(worst.attacks),
        "reference": [
            {"attack": r.attack, "accuracy": _pct(r.accuracy), "n": int(r.n), "points": r.points}
            for r in refs
        ],
    }


def evaluations(result: ModelResult) -> list[dict[str, Any]]:
    """Every L∞ budget's worst case (ε < 1: ε = 1 is the unbounded sanity check), by ε."""
    worst = [w for w in result.worst_case if is_budget(w.norm, w.eps) and w.n and not math.isnan(w.accuracy)]
    return [evaluation(w, result.records) for w in sorted(worst, key=lambda w: w.eps)]


def model_info(result: ModelResult, train: TrainRecord | None, checkpoint: str | None) -> dict[str, Any]:
    """One model's RobustBench-style entry (accuracies as % strings, as RobustBench writes them)."""
    clean = result.record(CLEAN)
    evals = evaluations(result)
    top = evals[-1] if evals else None  # the threat model's ε: the largest budget
    arch = _architecture(Path(checkpoint)) if checkpoint and Path(checkpoint).is_file() else None
    if top is None:
        footnote = "no L∞ worst case in robustness.json"
    elif not top["autoattack_strength"]:
        footnote = (
            f"the worst case at ε = {top['eps']} ({top['accuracy']} % on n = {top['n']}) is not AutoAttack-"
            "strength (no full-strength APGD-CE + APGD-T on every point, no reference AutoAttack): see evaluations"
        )
    else:
        components = ", ".join(c["attack"] for c in top["components"])
        footnote = (
            f"worst case over every attack at ε = {top['eps']} on n = {top['n']} points "
            f"[{top['ci_low']}, {top['ci_high']}] % ({100 * LEVEL:g} % Clopper-Pearson), by the {top['produced_by']}"
            + (f" ({components})" if components and top["produced_by"] == "torchattacks cascade" else "")
        )
    strong = top is not None and top["autoattack_strength"]
    return {
        "link": PAPER_LINK,
        "name": f"{result.method or 'model'} ({result.run})",
        "authors": "SAGR replication pipeline",
        "additional_data": False,
        "number_forward_passes": 1,
        "dataset": result.dataset,
        "venue": "replication",
        "architecture": arch,
        "threat_model": "Linf",
        "eps": top["eps"] if top else None,
        "clean_acc": _pct(clean.accuracy),
        "reported": None,
        "autoattack_acc": top["accuracy"] if strong else None,
        "footnote": footnote,
        # Beyond RobustBench's fields: what the numbers rest on.
        "n_clean": int(clean.n),
        "n_autoattack": top["n"] if strong else None,
        "autoattack_ci": [top["ci_low"], top["ci_high"]] if strong else None,
        "autoattack_produced_by": top["produced_by"] if strong else None,
        "evaluations": evals,
        "method": result.method,
        "seed": result.seed,
        "run": result.run,
        "checkpoint": checkpoint,
        "train_epochs": train.epochs if train is not None else None,
        "git_commit": (result.provenance or {}).get("git_commit"),
    }


def _architecture(checkpoint: Path) -> str | None:
    """The architecture name stored beside the weights (sagr.models.save_model's spec); a damaged
    checkpoint is an error (ArtefactError), as for every reader of a pipeline file."""
    from .models import load_checkpoint

    return load_checkpoint(checkpoint, "cpu")[1].get("arch")


def export_run(results_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Write `out_dir/{dataset}/{run}.json` for every results/{dataset}/{run}/robustness.json.

    All or nothing: every input is read and verified before the first file is written, so a
    damaged input (an ArtefactError naming it and its rebuild command) leaves ``out_dir`` as it
    was; the files are written to temporary names and renamed into place only once all are
    written, so a failed write (a full disk) does too.
    """
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    paths = sorted(results_dir.glob("*/*/robustness.json"))
    if not paths:
        raise FileNotFoundError(f"no */*/robustness.json under {results_dir}: run the pipeline first")
    infos: dict[Path, dict[str, Any]] = {}
    for path in paths:
        rob = read_result(path)
        train_path = path.with_name("train.json")
        train = TrainRecord.read(train_path) if train_path.is_file() else None
        ckpt = path.with_name("model.pt")
        out = out_dir / path.parent.parent.name / f"{path.parent.name}.json"
        infos[out] = model_info(rob, train, str(ckpt) if ckpt.is_file() else None)
    new_dirs = {d for out in infos for d in (out.parent, *out.parent.parents) if not d.exists()}
    try:
        with ExitStack() as stack:  # each atomic_path renames its file in on a clean exit, none on an error
            for out, info in infos.items():
                dump_json(stack.enter_context(atomic_path(out)), info)
    except BaseException:
        for d in sorted(new_dirs, key=lambda d: len(d.parts), reverse=True):
            with suppress(OSError):  # only the folders this call made, and only if empty
                d.rmdir()
        raise
    return list(infos)
