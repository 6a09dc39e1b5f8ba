"""RobustBench-style model-info JSON for every evaluated model of a pipeline run.

RobustBench lists a model with a small JSON (name, architecture, dataset, threat model, ε,
clean and AutoAttack accuracy in %). We write one per (dataset, run) from its
robustness.json and train.json, adding what our numbers need to be read honestly: the
number of points each accuracy was measured on, the attack's role, and the checkpoint.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path
from typing import Any

from .files import write_json

PAPER_LINK = "https://doi.org/10.1109/TIFS.2023.3289000"
AUTOATTACK_KINDS = ("autoattack",)  # the torchattacks AutoAttack of the suite
REFERENCE_KINDS = ("autoattack_reference", "reference_autoattack")  # reference implementation, if run


def fmt_eps(eps: float) -> str:
    """8/255 for 0.0313725…, 0.3 for 0.3: RobustBench writes ε as it is usually quoted."""
    frac = Fraction(eps).limit_denominator(255)
    if frac.denominator == 255 and abs(float(frac) - eps) < 1e-9:
        return f"{frac.numerator}/255"
    return f"{eps:g}"


def _pct(acc: float) -> str:
    return f"{100 * acc:.2f}"


def _autoattack(records: list[dict]) -> dict | None:
    """The AutoAttack record at the largest L∞ ε, the reference implementation preferred."""
    for kinds in (REFERENCE_KINDS, AUTOATTACK_KINDS):
        found = [
            r
            for r in records
            if r.get("kind") in kinds
            and r.get("norm", "linf") == "linf"
            and not math.isnan(r.get("accuracy", float("nan")))
            and r["eps"] < 1
        ]
        if found:
            return max(found, key=lambda r: r["eps"])
    return None


def model_info(
    robustness: dict[str, Any], train: dict[str, Any] | None, checkpoint: str | None
) -> dict[str, Any]:
    """One model's RobustBench-style entry (accuracies as % strings, as RobustBench writes them)."""
    records = robustness["records"]
    clean = next(r for r in records if r["attack"] == "clean")
    aa = _autoattack(records)
    arch = None
    if checkpoint and Path(checkpoint).is_file():
        arch = _architecture(Path(checkpoint))
    info: dict[str, Any] = {
        "link": PAPER_LINK,
        "name": f"{robustness.get('method', 'model')} ({robustness['run']})",
        "authors": "SAGR replication pipeline",
        "additional_data": False,
        "number_forward_passes": 1,
        "dataset": robustness["dataset"],
        "venue": "replication",
        "architecture": arch,
        "threat_model": "Linf",
        "eps": fmt_eps(aa["eps"]) if aa else None,
        "clean_acc": _pct(clean["accuracy"]),
        "reported": None,
        "autoattack_acc": _pct(aa["accuracy"]) if aa else None,
        "footnote": None if aa else "no AutoAttack record in robustness.json",
        # Beyond RobustBench's fields: what the numbers rest on.
        "n_clean": int(clean["n"]),
        "n_autoattack": int(aa["n"]) if aa else None,
        "autoattack_kind": aa["kind"] if aa else None,
        "autoattack_points": aa.get("points", "subset" if aa and aa["n"] < clean["n"] else "all")
        if aa
        else None,
        "method": robustness.get("method"),
        "seed": robustness.get("seed"),
        "run": robustness["run"],
        "checkpoint": checkpoint,
        "train_epochs": (train or {}).get("epochs"),
        "git_commit": (robustness.get("provenance") or {}).get("git_commit"),
    }
    return info


def _architecture(checkpoint: Path) -> str | None:
    """The architecture name stored beside the weights (sagr.models.save_model's spec)."""
    try:
        from .models import load_checkpoint

        return load_checkpoint(checkpoint, "cpu")[1].get("arch")
    except (ValueError, OSError, RuntimeError, KeyError):  # not ours: leave it empty rather than guess
        return None


def export_run(results_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Write `out_dir/{dataset}/{run}.json` for every results/{dataset}/{run}/robustness.json."""
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    written = []
    paths = sorted(results_dir.glob("*/*/robustness.json"))
    if not paths:
        raise FileNotFoundError(f"no */*/robustness.json under {results_dir}: run the pipeline first")
    for path in paths:
        rob = json.loads(path.read_text())
        train_path = path.with_name("train.json")
        train = json.loads(train_path.read_text()) if train_path.is_file() else None
        ckpt = path.with_name("model.pt")
        out = out_dir / path.parent.parent.name / f"{path.parent.name}.json"
        write_json(out, model_info(rob, train, str(ckpt) if ckpt.is_file() else None))
        written.append(out)
    return written
