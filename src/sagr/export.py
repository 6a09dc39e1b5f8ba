"""RobustBench-style model-info JSON for every evaluated model of a pipeline run.

RobustBench lists a model with a small JSON (name, architecture, dataset, threat model, ε,
clean and AutoAttack accuracy in %). We write one per (dataset, run) from its
robustness.json and train.json, adding what our numbers need to be read honestly: the
number of points each accuracy was measured on, the attack's role, and the checkpoint.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import Any

from .files import read_json, write_json
from .robustness import CLEAN, AttackRecord, ModelResult
from .robustness.io import read_result

PAPER_LINK = "https://doi.org/10.1109/TIFS.2023.3289000"
#: The torchattacks AutoAttack of the suite, measured on fixed points. (The reference-role AutoAttack
#: is a cross-check on the cascade's still-robust points: its accuracy is not one on the test points.)
AUTOATTACK_KINDS = ("autoattack",)


def fmt_eps(eps: float) -> str:
    """8/255 for 0.0313725…, 0.3 for 0.3: RobustBench writes ε as it is usually quoted."""
    frac = Fraction(eps).limit_denominator(255)
    if frac.denominator == 255 and abs(float(frac) - eps) < 1e-9:
        return f"{frac.numerator}/255"
    return f"{eps:g}"


def _pct(acc: float) -> str:
    return f"{100 * acc:.2f}"


def _autoattack(records: list[AttackRecord]) -> AttackRecord | None:
    """The AutoAttack record at the largest L∞ ε < 1."""
    found = [
        r
        for r in records
        if r.kind in AUTOATTACK_KINDS and r.norm == "linf" and not math.isnan(r.accuracy) and r.eps < 1
    ]
    return max(found, key=lambda r: r.eps) if found else None


def model_info(result: ModelResult, train: dict[str, Any] | None, checkpoint: str | None) -> dict[str, Any]:
    """One model's RobustBench-style entry (accuracies as % strings, as RobustBench writes them)."""
    clean = result.record(CLEAN)
    aa = _autoattack(result.records)
    arch = None
    if checkpoint and Path(checkpoint).is_file():
        arch = _architecture(Path(checkpoint))
    info: dict[str, Any] = {
        "link": PAPER_LINK,
        "name": f"{result.method or 'model'} ({result.run})",
        "authors": "SAGR replication pipeline",
        "additional_data": False,
        "number_forward_passes": 1,
        "dataset": result.dataset,
        "venue": "replication",
        "architecture": arch,
        "threat_model": "Linf",
        "eps": fmt_eps(aa.eps) if aa else None,
        "clean_acc": _pct(clean.accuracy),
        "reported": None,
        "autoattack_acc": _pct(aa.accuracy) if aa else None,
        "footnote": None if aa else "no AutoAttack record in robustness.json",
        # Beyond RobustBench's fields: what the numbers rest on.
        "n_clean": int(clean.n),
        "n_autoattack": int(aa.n) if aa else None,
        "autoattack_kind": aa.kind if aa else None,
        "autoattack_points": aa.points if aa else None,
        "method": result.method,
        "seed": result.seed,
        "run": result.run,
        "checkpoint": checkpoint,
        "train_epochs": (train or {}).get("epochs"),
        "git_commit": (result.provenance or {}).get("git_commit"),
    }
    return info


def _architecture(checkpoint: Path) -> str | None:
    """The architecture name stored beside the weights (sagr.models.save_model's spec); a damaged
    checkpoint is an error (ArtefactError), as for every reader of a pipeline file."""
    from .models import load_checkpoint

    return load_checkpoint(checkpoint, "cpu")[1].get("arch")


def export_run(results_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Write `out_dir/{dataset}/{run}.json` for every results/{dataset}/{run}/robustness.json."""
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    written = []
    paths = sorted(results_dir.glob("*/*/robustness.json"))
    if not paths:
        raise FileNotFoundError(f"no */*/robustness.json under {results_dir}: run the pipeline first")
    for path in paths:
        rob = read_result(path)
        train_path = path.with_name("train.json")
        train = read_json(train_path) if train_path.is_file() else None
        ckpt = path.with_name("model.pt")
        out = out_dir / path.parent.parent.name / f"{path.parent.name}.json"
        write_json(out, model_info(rob, train, str(ckpt) if ckpt.is_file() else None))
        written.append(out)
    return written
