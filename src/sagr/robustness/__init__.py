"""One result model from evaluation to report.

- `records`: the typed records of robustness.json / correct.npz and their keys (nowhere else);
- `table`: one model's per-point outcomes and every operation on them (worst cases, discordant
  pairs, the reference comparison, AutoAttack strength);
- `plan`: which attack runs on which points at which ε (no torch);
- `runner`: the suite run on a model, step by step (torch; import it explicitly);
- `resume`: each finished step saved, so that a killed evaluation resumes (torch);
- `io`: reading and writing a result through the verifying `sagr.files`;
- `describe`: the suite in words, built from the config at render time (never stored).
"""

from .records import (
    CLEAN,
    FORMAT_VERSION,
    INDICES,
    NOT_EVALUATED,
    AttackRecord,
    MaskingCheck,
    ModelResult,
    Points,
    ReferenceComparison,
    WorstCase,
    outcome_key,
    worst_key,
)
from .table import OutcomeTable, as_float, discordant

__all__ = [
    "CLEAN",
    "FORMAT_VERSION",
    "INDICES",
    "NOT_EVALUATED",
    "AttackRecord",
    "MaskingCheck",
    "ModelResult",
    "OutcomeTable",
    "Points",
    "ReferenceComparison",
    "WorstCase",
    "as_float",
    "discordant",
    "outcome_key",
    "worst_key",
]
