"""The claims' verdicts from the runs finished so far (``sagr verdicts``).

A long study (8 seeds, the readings, a second dataset) takes hours; its verdicts firm up as
models finish. This reads the runs of a config whose result files are all there (each read
verified, as the report reads them) and evaluates the claims on those alone. A claim whose
runs are missing is "not tested", and a comparison uses the seeds both sides have, so a verdict
made now is one the finished runs support. The report is still the final word: it needs every run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from . import claims, readings, results
from .files import read_json
from .job_records import TrainRecord
from .results import RUN_FILES
from .runs import manifest

_NEEDED = ("robustness", "saliency", "correct")


@dataclass(frozen=True)
class Interim:
    """The verdicts on the finished runs, and which of the config's runs they leave out."""

    claims: pd.DataFrame  # sagr.claims.evaluate's rows
    readings: pd.DataFrame  # sagr.readings.evaluate's rows (empty without SAGR's readings)
    finished: int
    missing: list[str]  # "<dataset>/<run>" of every run not finished


def _finished(run_dir: Path) -> bool:
    train = run_dir / RUN_FILES["train"]
    if not train.is_file():
        return False
    if all((run_dir / RUN_FILES[k]).is_file() for k in _NEEDED):
        return True
    return TrainRecord.from_json(read_json(train)).diverged  # a diverged run writes train.json only


def verdicts(config: Mapping[str, Any], results_dir: Path) -> Interim:
    """Evaluate the claims (and SAGR's readings) of ``config`` (loaded) on the runs under
    ``results_dir`` that have every result file."""
    entries, inputs, missing = [], {kind: [] for kind in RUN_FILES}, []
    for entry in manifest(config):
        run_dir = results_dir / entry.dataset / entry.run.name
        if not _finished(run_dir):
            missing.append(f"{entry.dataset}/{entry.run.name}")
            continue
        entries.append(entry.as_dict())
        for kind, name in RUN_FILES.items():
            if (run_dir / name).is_file():
                inputs[kind].append(run_dir / name)
    margins = {kind: spec["value"] for kind, spec in config["claims"]["smallest_effect"].items()}
    res = results.load(entries, inputs)
    return Interim(
        claims=claims.evaluate(res, margins=margins),
        readings=readings.evaluate(res, margins),
        finished=len(entries),
        missing=missing,
    )
