"""One model's per-point outcomes: every (attack, ε) it was evaluated with, one array each.

A value is 1 (still classified correctly), 0 (broken, or wrong clean) or NOT_EVALUATED (the
attack did not run on the point). This table is the only thing that decides which points an
attack saw and what a worst case counts: the evaluation's worst case, the report's worst case
over a chosen set of attacks, the masking checks' discordant pairs and the reference-vs-cascade
comparison are its methods, never re-derived by their callers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .records import (
    CLEAN,
    INDICES,
    NOT_EVALUATED,
    AttackRecord,
    Points,
    ReferenceComparison,
    WorstCase,
    default_role,
    outcome_key,
    worst_key,
)

#: Significance level of the torchattacks-vs-reference AutoAttack comparison (two-sided exact McNemar).
REFERENCE_ALPHA: float = 0.05
#: ε values are matched after rounding (float round-trips through CSV/JSON).
EPS_DECIMALS: int = 10
_REFERENCE = "reference"


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts b and c (1.0 when there are none)."""
    from scipy.stats import binomtest

    return float(binomtest(b, b + c, 0.5).pvalue) if b + c else 1.0


def discordant(a: np.ndarray, b: np.ndarray) -> tuple[int, int, int]:
    """Points both arrays evaluated, and the discordant pairs there: (n, correct only in a, correct only in b)."""
    shared = (a != NOT_EVALUATED) & (b != NOT_EVALUATED)
    return (
        int(shared.sum()),
        int((shared & (a == 1) & (b == 0)).sum()),
        int((shared & (a == 0) & (b == 1)).sum()),
    )


def as_float(arr: np.ndarray) -> np.ndarray:
    """Outcomes as 0./1. with NaN where not evaluated: what sagr.stats averages over seeds."""
    out = np.asarray(arr).astype(float)
    out[out == NOT_EVALUATED] = np.nan
    return out


def _fraction(k: int, n: int) -> float:
    return float(k / n) if n else float("nan")


@dataclass
class OutcomeTable:
    """The records of one model and their per-point outcomes (key: ``outcome_key``)."""

    records: list[AttackRecord]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    # ------------------------------------------------------------ building

    @classmethod
    def start(cls, clean_ok: np.ndarray, wall_time_s: float) -> OutcomeTable:
        """A table holding the clean outcomes only (the runner adds each attack with `measured`)."""
        n = len(clean_ok)
        rec = AttackRecord(
            CLEAN, CLEAN, CLEAN, "none", 0.0, _fraction(int(clean_ok.sum()), n), n, int(clean_ok.sum()),
            Points.ALL.value, {}, CLEAN, wall_time_s, None,
        )  # fmt: skip
        return cls([rec], {CLEAN: clean_ok.astype(np.int8)})

    def measured(
        self, name: str, spec: dict, eps: float, idx: np.ndarray, ok: np.ndarray, points: str, **run: Any
    ) -> AttackRecord:
        """Add one (attack, ε) measured on the points ``idx``: ``ok`` per point (a point wrong
        clean counts as broken, so randomness cannot fix it); the rest are NOT_EVALUATED. ``run``:
        repr, wall_time_s, cpu_time_s."""
        from ..attack_kinds import attack_norm, role_of

        clean = self.clean
        ok = ok & clean[idx].astype(bool)
        arr = np.full(len(clean), NOT_EVALUATED, dtype=np.int8)
        arr[idx] = ok
        m = len(idx)
        rec = AttackRecord(
            name, spec["kind"], role_of(spec), attack_norm(spec["kind"]), float(eps),
            _fraction(int(ok.sum()), m), m, int(ok.sum()), points, dict(spec), **run,
        )  # fmt: skip
        self.records.append(rec)
        self.arrays[rec.key] = arr
        return rec

    @classmethod
    def from_frame(cls, frame: Any, arrays: Mapping[str, np.ndarray]) -> OutcomeTable:
        """From one model's rows of a records table (`sagr.results`) and its correct.npz arrays.
        Hand-made tables may leave out columns: kind is then the attack, norm L∞, points all."""
        cols = set(frame.columns)
        rows = []
        for r in frame.to_dict("records"):
            params = r.get("params")
            if isinstance(params, str):
                import json

                params = json.loads(params)
            kind = r["kind"] if "kind" in cols and isinstance(r["kind"], str) else r["attack"]
            rows.append(
                AttackRecord(
                    attack=r["attack"],
                    kind=kind,
                    role=r["role"] if "role" in cols and isinstance(r["role"], str) else default_role(kind),
                    norm=r["norm"] if "norm" in cols else "linf",
                    eps=float(r["eps"]),
                    accuracy=r.get("accuracy", float("nan")),
                    n=r.get("n"),
                    n_correct=r.get("n_correct"),
                    points=r["points"] if "points" in cols and isinstance(r["points"], str) else "all",
                    params=params if isinstance(params, dict) else {},
                )
            )
        return cls(rows, {k: np.asarray(v) for k, v in arrays.items()})

    # ------------------------------------------------------------ reading

    @property
    def clean(self) -> np.ndarray:
        return self.arrays[CLEAN]

    @property
    def n(self) -> int:
        return len(self.clean)

    def attacks(self) -> list[AttackRecord]:
        """The attack records (not the clean one), in run order."""
        return [r for r in self.records if r.norm in ("linf", "l2")]

    def at(self, norm: str, eps: float) -> list[AttackRecord]:
        """The attack records at one (norm, ε), ε matched after rounding."""
        e = round(float(eps), EPS_DECIMALS)
        return [r for r in self.attacks() if r.norm == norm and round(r.eps, EPS_DECIMALS) == e]

    def outcome(self, rec: AttackRecord | str, eps: float | None = None) -> np.ndarray:
        """Per-point outcomes of one record (or of an attack name at ε)."""
        key = rec.key if isinstance(rec, AttackRecord) else outcome_key(rec, float(eps or 0.0))
        return np.asarray(self.arrays[key])

    def has(self, attack: str, eps: float, norm: str = "linf") -> bool:
        """Whether the attack ran at (norm, ε) and its outcomes are stored."""
        return any(r.attack == attack and r.key in self.arrays for r in self.at(norm, eps))

    # ------------------------------------------------------------ the per-point worst case

    def covered(self, recs: Sequence[AttackRecord], every: bool) -> np.ndarray:
        """Points evaluated by every one (``every``) or by some one of ``recs`` (all points if none)."""
        if not recs:
            return np.ones(self.n, bool)
        seen = np.stack([self.outcome(r) != NOT_EVALUATED for r in recs])
        return seen.all(axis=0) if every else seen.any(axis=0)

    def broken(self, recs: Sequence[AttackRecord], with_clean: bool = False) -> np.ndarray:
        """Points some attack of ``recs`` broke (or, ``with_clean``, that were wrong clean)."""
        out = np.stack([self.outcome(r) == 0 for r in recs]).any(axis=0) if recs else np.zeros(self.n, bool)
        return out | (self.clean == 0) if with_clean else out

    def worst_over(
        self,
        recs: Sequence[AttackRecord],
        on: np.ndarray,
        broken_counts: bool = False,
        with_clean: bool = False,
    ) -> np.ndarray:
        """Per point: 0 if an attack of ``recs`` broke it, else 1; NOT_EVALUATED off the points ``on``
        (``broken_counts``: a broken point counts wherever it is, since a cascade attack skips exactly
        the points another one already broke)."""
        broken = self.broken(recs, with_clean)
        out = np.where(broken, 0, 1).astype(np.int8)
        out[~on & ~(broken & broken_counts)] = NOT_EVALUATED
        return out

    def worst_case(self) -> list[tuple[WorstCase, np.ndarray]]:
        """The evaluation's worst case per (norm, ε) over every attack run there, and its per-point array.

        Measured on every point some non-cascade attack evaluated (all points whenever one attack
        covers them all; a prefix where only subset attacks ran, e.g. at ε = 1). Cascade attacks
        skip only points already broken, so the result equals running every attack on every point.
        """
        groups: dict[tuple[str, float], list[AttackRecord]] = {}
        for r in self.attacks():
            groups.setdefault((r.norm, r.eps), []).append(r)
        out = []
        for (norm, eps), recs in sorted(groups.items()):
            fixed = [r for r in recs if r.points != Points.CASCADE.value]
            arr = self.worst_over(recs, self.covered(fixed, every=False), with_clean=True)
            n, k = int((arr != NOT_EVALUATED).sum()), int((arr == 1).sum())
            wc = WorstCase(
                norm, eps, _fraction(k, n), n, k, [r.attack for r in recs], self.apgd_strength(recs)
            )
            out.append((wc, arr))
        return out

    def worst(self, eps: float, attacks: Iterable[str], norm: str = "linf") -> np.ndarray:
        """The worst case at one (norm, ε) over exactly ``attacks`` (the ablation's common suite), on the
        points the set shares, so that models scored with it are compared on the same points.

        A reference-role cross-check runs on a prefix of the cascade's pool: points beyond it count
        as the evaluation's own worst case counts them (not broken by it), not as not evaluated.
        With a cascade attack in the set, a point an earlier attack broke stays broken (the cascade
        skipped it for that reason); without one, a point counts only where every attack ran on it.
        """
        by_name = {r.attack: r for r in self.at(norm, eps)}
        recs = [by_name[a] for a in attacks]
        own = [r for r in recs if r.role != _REFERENCE]
        cascade = any(r.points == Points.CASCADE.value for r in recs)
        return self.worst_over(recs, self.covered(own, every=True), broken_counts=cascade)

    def stored_worst(self, norm: str, eps: float) -> np.ndarray | None:
        """The evaluation's own per-point worst case, as correct.npz stores it (None in older files)."""
        key = worst_key(norm, eps)
        return np.asarray(self.arrays[key]) if key in self.arrays else None

    @staticmethod
    def apgd_strength(recs: Sequence[AttackRecord]) -> bool:
        """Whether these attacks at one L∞ ε contain AutoAttack-strength APGD-CE and APGD-T on
        every point (subset attacks do not count)."""
        from ..attack_kinds import apgd_strength

        if not recs or recs[0].norm != "linf":
            return False
        return bool(apgd_strength([r.params for r in recs if r.params and r.points != Points.SUBSET.value]))

    # ------------------------------------------------------------ the reference cross-check

    def reference_comparisons(self) -> list[ReferenceComparison]:
        """`reference_comparison` at every L∞ ε where a reference-role attack ran, smallest ε first:
        the gap the cascade leaves is measured per budget, not only at the largest."""
        eps = sorted({r.eps for r in self.attacks() if r.role == _REFERENCE and r.norm == "linf"})
        return [c for e in eps if (c := self.reference_comparison(e)) is not None]

    def reference_comparison(self, eps: float | None = None) -> ReferenceComparison | None:
        """torchattacks' AutoAttack vs the reference on the same points, at ``eps`` (default: the
        largest ε where a reference-role attack ran).

        The torchattacks side is the cascade of non-reference cascade attacks at that ε (they start
        from the same pool as the reference), or else an `autoattack`-kind attack on the points both
        evaluated. A point is robust for a side iff none of its attacks broke it. `differs` when the
        exact McNemar test on the discordant points rejects equal strength at REFERENCE_ALPHA.
        """
        refs = [r for r in self.attacks() if r.role == _REFERENCE and r.norm == "linf"]
        if eps is not None:
            refs = [r for r in refs if r.eps == eps]
        if not refs:
            return None
        ref = max(refs, key=lambda r: r.eps)
        same = [r for r in self.at("linf", ref.eps) if r.role != _REFERENCE and r.eps == ref.eps]
        cascade = [r for r in same if r.points == Points.CASCADE.value]
        ta = cascade or [r for r in same if r.kind == "autoattack"]
        if not ta:
            return None
        # The first cascade attack saw the whole pool (later ones skip what earlier ones broke).
        ta_seen = self.covered(ta[:1] if cascade else ta, every=True)
        shared = self.covered([ref], every=True) & ta_seen
        ta_ok = ~self.broken(ta) & shared
        ref_ok = (self.outcome(ref) == 1) & shared
        b = int((ta_ok & ~ref_ok).sum())  # the reference broke, torchattacks did not
        c = int((ref_ok & ~ta_ok).sum())
        n, p = int(shared.sum()), mcnemar_exact(b, c)
        prefix = f", first {ref.params['subset']} points" if "subset" in ref.params else ""
        # the points the reference was given: its prefix of the evaluation set (or all of it)
        prefix_n = min(int(ref.params.get("subset") or len(self.clean)), len(self.clean))
        return ReferenceComparison(
            eps=ref.eps,
            reference_attack=ref.attack,
            torchattacks_attacks=[r.attack for r in ta],
            points=("pool left by the fixed attacks" + prefix) if cascade else "points both evaluated",
            n=n,
            n_correct=int(ref_ok.sum()),
            accuracy=_fraction(int(ref_ok.sum()), n),
            torchattacks_n_correct=int(ta_ok.sum()),
            torchattacks_accuracy=_fraction(int(ta_ok.sum()), n),
            only_reference_broke=b,
            only_torchattacks_broke=c,
            prefix_n=prefix_n,
            mcnemar_p=p,
            alpha=REFERENCE_ALPHA,
            differs=bool(p < REFERENCE_ALPHA),
        )

    # ------------------------------------------------------------ files

    def npz_arrays(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """What correct.npz holds: the evaluation indices, every outcome array, the stored worst cases."""
        worst = {worst_key(w.norm, w.eps): arr for w, arr in self.worst_case()}
        return {INDICES: np.asarray(indices), **self.arrays, **worst}
