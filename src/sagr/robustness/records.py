"""The result of evaluating one model, as typed records: the only place the keys of
robustness.json and correct.npz are spelled.

Every record reads itself with ``from_json`` and writes itself with ``to_json``. ``from_json``
alone reads older files: what they lack (a record's role, ``points``, ``n_correct``, the worst
case's ``apgd_strength``) is derived here, once, so no reader downstream carries a fallback.
Format versions: 1 = files without a ``format_version`` key (before this module); 2 = this
module's, the same keys plus the version, and no stored report prose (the report builds its
text from the config at render time). ``model_checks`` (AutoAttack's checks on the model, `sagr.model_checks`)
is newer than format 2's first files: a file without it reads back without it (no model check was run).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any

FORMAT_VERSION: int = 2
#: The per-point value of a point an attack did not run on (1 = still correct, 0 = broken).
NOT_EVALUATED: int = -1
#: correct.npz keys of the clean outcomes and of the evaluation subset's test-set indices.
CLEAN: str = "clean"
INDICES: str = "indices"
_WORST: str = "worst"
_ND = float("nan")


class Points(str, Enum):
    """On which points an attack's accuracy was measured."""

    ALL = "all"  # every evaluation point
    SUBSET = "subset"  # a prefix of them (the spec's `subset`)
    CASCADE = "cascade"  # the points still robust when it ran (AutoAttack-style)


def outcome_key(attack: str, eps: float) -> str:
    """correct.npz key of one (attack, ε); the clean outcomes have no ε."""
    return CLEAN if attack == CLEAN else f"{attack}@{eps:g}"


def worst_key(norm: str, eps: float) -> str:
    """correct.npz key of the per-point worst case at one (norm, ε)."""
    return f"{_WORST}@{eps:g}" if norm == "linf" else f"{_WORST}_{norm}@{eps:g}"


def is_worst_key(key: str) -> bool:
    """Whether a correct.npz key holds a stored worst case (not one attack's outcomes)."""
    return key.split("@")[0].startswith(_WORST)


def _count(n_correct: Any, accuracy: Any, n: Any) -> int | None:
    """n_correct as written, or (files before it) derived from accuracy·n."""
    if n_correct is not None:
        return int(n_correct)
    if n is None or accuracy is None or (isinstance(accuracy, float) and math.isnan(accuracy)):
        return None
    return int(round(accuracy * n))


def default_role(kind: str) -> str | None:
    """The role a kind has by default (files before roles); None for a kind the registry lacks."""
    from ..attack_kinds import ATTACK_REGISTRY

    entry = ATTACK_REGISTRY.get(kind)
    return entry.default_role.value if entry else None


@dataclass(frozen=True)
class AttackRecord:
    """One (attack, ε) on one model: accuracy on the ``n`` points it ran on, and what ran."""

    attack: str
    kind: str
    role: str | None
    norm: str  # "linf" | "l2" | "none" (clean)
    eps: float
    accuracy: float
    n: int
    n_correct: int | None
    points: str  # a Points value
    params: dict[str, Any] = field(default_factory=dict)
    repr: str = ""
    wall_time_s: float | None = None
    cpu_time_s: float | None = None
    provenance: dict[str, Any] | None = None  # older files only

    @property
    def key(self) -> str:
        return outcome_key(self.attack, self.eps)

    def to_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        if out["provenance"] is None:
            del out["provenance"]
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any], n_eval: int | None = None) -> AttackRecord:
        n = d.get("n", n_eval)
        kind = d.get("kind", d["attack"])
        return cls(
            attack=d["attack"],
            kind=kind,
            role=d["role"] if d.get("role") is not None else default_role(kind),
            norm=d.get("norm", "linf"),
            eps=float(d.get("eps", 0.0)),
            accuracy=d["accuracy"],
            n=n,
            n_correct=_count(d.get("n_correct"), d["accuracy"], n),
            points=d.get("points") or (Points.ALL.value if n == n_eval else Points.SUBSET.value),
            params=dict(d.get("params") or {}),
            repr=d.get("repr", ""),
            wall_time_s=d.get("wall_time_s"),
            cpu_time_s=d.get("cpu_time_s"),
            provenance=d.get("provenance"),
        )


#: Kinds whose name says they run APGD: the AutoAttack strength of files before `apgd_strength`.
_APGD_NAMED = ("apgd", "autoattack")


@dataclass(frozen=True)
class WorstCase:
    """Per (norm, ε): a point is robust iff correct clean and no attack at that ε broke it."""

    norm: str
    eps: float
    accuracy: float
    n: int
    n_correct: int | None
    attacks: list[str]
    apgd_strength: bool  # contains APGD-CE and APGD-T of standard AutoAttack's strength on every point

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(
        cls, d: dict[str, Any], n_eval: int | None = None, kinds: dict[str, str] | None = None
    ) -> WorstCase:
        n, attacks = d.get("n", n_eval), list(d.get("attacks", []))
        strength = d.get("apgd_strength")
        if strength is None:  # files before the field: read it from the kinds of its attacks
            strength = any(t in str((kinds or {}).get(a, "")) for a in attacks for t in _APGD_NAMED)
        return cls(
            norm=d.get("norm", "linf"),
            eps=float(d["eps"]),
            accuracy=d["accuracy"],
            n=n,
            n_correct=_count(d.get("n_correct"), d["accuracy"], n) if n else d.get("n_correct"),
            attacks=attacks,
            apgd_strength=bool(strength),
        )


@dataclass(frozen=True)
class ReferenceComparison:
    """torchattacks' AutoAttack cascade vs the reference implementation on the same points."""

    eps: float
    accuracy: float | None
    n: int | None
    n_correct: int | None
    torchattacks_accuracy: float | None
    mcnemar_p: float
    differs: bool
    reference_attack: str | None = None
    torchattacks_attacks: list[str] | None = None
    points: str = ""  # on which points, in words
    torchattacks_n_correct: int | None = None
    only_reference_broke: int | None = None
    only_torchattacks_broke: int | None = None
    alpha: float | None = None
    prefix_n: int | None = None  # the evaluation points the reference was given (its prefix)

    _ORDER = (
        "eps",
        "reference_attack",
        "torchattacks_attacks",
        "points",
        "n",
        "n_correct",
        "accuracy",
        "torchattacks_n_correct",
        "torchattacks_accuracy",
        "only_reference_broke",
        "only_torchattacks_broke",
        "prefix_n",
        "mcnemar_p",
        "alpha",
        "differs",
    )

    def to_json(self) -> dict[str, Any]:
        # prefix_n is newer than format 1: a file without it reads back without it
        return {k: getattr(self, k) for k in self._ORDER if k != "prefix_n" or self.prefix_n is not None}

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> ReferenceComparison | None:
        if not d:
            return None
        return cls(
            eps=float(d.get("eps", _ND)),
            accuracy=d.get("accuracy"),
            n=d.get("n"),
            n_correct=d.get("n_correct"),
            torchattacks_accuracy=d.get("torchattacks_accuracy"),
            mcnemar_p=d.get("mcnemar_p", _ND),
            differs=bool(d.get("differs", False)),
            reference_attack=d.get("reference_attack"),
            torchattacks_attacks=d.get("torchattacks_attacks"),
            points=d.get("points", ""),
            torchattacks_n_correct=d.get("torchattacks_n_correct"),
            only_reference_broke=d.get("only_reference_broke"),
            only_torchattacks_broke=d.get("only_torchattacks_broke"),
            alpha=d.get("alpha"),
            prefix_n=d.get("prefix_n"),
        )


@dataclass(frozen=True)
class MaskingCheck:
    """One gradient-masking check's verdict (passed None: not applicable)."""

    check: str
    title: str
    passed: bool | None
    p_value: float | None
    alpha: float | None
    n_points: int | float | None
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> MaskingCheck:
        detail = d.get("detail", "")
        if not isinstance(detail, str):  # some early files stored a mapping
            import json

            detail = json.dumps(detail, default=str)
        return cls(
            check=d["check"],
            title=d.get("title", d["check"]),
            passed=d.get("passed"),
            p_value=d.get("p_value", _ND),
            alpha=d.get("alpha", _ND),
            n_points=d.get("n_points", _ND),
            detail=detail,
        )


@dataclass(frozen=True)
class ModelCheck:
    """One of AutoAttack's checks on the model itself (`sagr.model_checks`): run before any attack."""

    check: str
    title: str
    passed: bool
    detail: str
    n_points: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ModelCheck:
        return cls(
            check=d["check"],
            title=d.get("title", d["check"]),
            passed=bool(d["passed"]),
            detail=str(d.get("detail", "")),
            n_points=d.get("n_points"),
        )


_IDENTITY = ("dataset", "run", "method", "seed", "hparams")


@dataclass(frozen=True)
class ModelResult:
    """Everything robustness.json holds about one model."""

    dataset: str
    run: str
    method: str | None
    seed: int | None
    hparams: dict[str, Any]
    n_eval: int | None
    records: list[AttackRecord]
    worst_case: list[WorstCase]
    masking: list[MaskingCheck]
    reference: ReferenceComparison | None
    provenance: dict[str, Any] | None = None
    eval_seed: int | None = None
    checkpoint: str | None = None  # `sagr evaluate` on a model from outside the pipeline
    status: str = "ok"  # "diverged": the model did not train, no numbers
    diverged_reason: str | None = None
    note: str | None = None
    format_version: int = FORMAT_VERSION
    model_checks: list[ModelCheck] | None = None  # None: a file from before the model checks (none run)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k) for k in _IDENTITY}
        if self.checkpoint is not None:
            out["checkpoint"] = self.checkpoint
        out["format_version"] = FORMAT_VERSION
        if self.status != "ok":
            out.update(status=self.status, diverged_reason=self.diverged_reason, note=self.note)
        out.update(
            n_eval=self.n_eval,
            eval_seed=self.eval_seed,
            records=[r.to_json() for r in self.records],
            worst_case=[w.to_json() for w in self.worst_case],
            masking=[m.to_json() for m in self.masking],
        )
        if self.model_checks is not None:
            out["model_checks"] = [c.to_json() for c in self.model_checks]
        out.update(
            reference_autoattack=self.reference.to_json() if self.reference else None,
            provenance=self.provenance,
        )
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ModelResult:
        version = int(d.get("format_version", 1))
        if version > FORMAT_VERSION:
            raise ValueError(
                f"robustness.json of {d.get('run')!r} has format {version}, newer than this code's "
                f"{FORMAT_VERSION}: update the code, or rerun the evaluation with this one"
            )
        n_eval = d.get("n_eval")
        records = [AttackRecord.from_json(r, n_eval) for r in d.get("records", [])]
        kinds = {r.attack: r.kind for r in records}
        return cls(
            dataset=d["dataset"],
            run=d["run"],
            method=d.get("method"),
            seed=d.get("seed"),
            hparams=dict(d.get("hparams") or {}),
            n_eval=n_eval,
            records=records,
            worst_case=[WorstCase.from_json(w, n_eval, kinds) for w in d.get("worst_case", [])],
            masking=[MaskingCheck.from_json(m) for m in d.get("masking") or []],
            model_checks=(
                [ModelCheck.from_json(c) for c in d["model_checks"] or []] if "model_checks" in d else None
            ),
            reference=ReferenceComparison.from_json(d.get("reference_autoattack")),
            provenance=d.get("provenance"),
            eval_seed=d.get("eval_seed"),
            checkpoint=d.get("checkpoint"),
            status=d.get("status", "ok"),
            diverged_reason=d.get("diverged_reason"),
            note=d.get("note"),
            format_version=version,
        )

    def record(self, attack: str) -> AttackRecord | None:
        """The first record of an attack (the clean one: ``record(CLEAN)``)."""
        return next((r for r in self.records if r.attack == attack), None)
