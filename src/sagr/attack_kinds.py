"""The attack-kind registry: what each `kind:` of the config's `attacks:` section is, which parameters it
takes (with their rules), its threat-model norm, its default role, and how to build it.

Importable without torch: builders are "module:function" strings resolved on first use, so the
Snakefile can validate the config before any heavy import.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from numbers import Real
from typing import Any

import numpy as np


class Norm(str, Enum):
    """Threat-model norm of an attack kind."""

    LINF = "linf"
    L2 = "l2"


class Role(str, Enum):
    """What an attack is for; the masking checks and the reference comparison select attacks by role, never by name.

    baseline: the standard attacks (check 4 compares each `strong` attack with the `baseline` of its kind);
    strong: more iterations/restarts or AutoAttack components; blackbox: gradient-free (check 3);
    unbounded: run at ε = 1 (check 2); reference: the reference AutoAttack, a cross-check of torchattacks'.
    """

    BASELINE = "baseline"
    STRONG = "strong"
    BLACKBOX = "blackbox"
    UNBOUNDED = "unbounded"
    REFERENCE = "reference"


ROLES: tuple[str, ...] = tuple(r.value for r in Role)
#: How a role qualifies its kind's label when the role is not the kind's default ("PGD (strong)").
ROLE_LABELS: dict[Role, str] = {
    Role.BASELINE: "baseline",
    Role.STRONG: "strong",
    Role.BLACKBOX: "black-box",
    Role.UNBOUNDED: "unbounded",
    Role.REFERENCE: "reference",
}


def _is_int(v: Any) -> bool:
    """True for a real integer (bool excluded, since YAML `true` must not pass as 1)."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_num(v: Any) -> bool:
    """True for a finite real number (bool excluded)."""
    return isinstance(v, Real) and not isinstance(v, (bool, np.bool_)) and math.isfinite(float(v))


@dataclass(frozen=True)
class Rule:
    """A parameter's validity test and how to say it in an error message."""

    ok: Callable[[Any], bool]
    what: str


_POS_INT = Rule(lambda v: _is_int(v) and v >= 1, "an integer >= 1")
_POS_NUM = Rule(lambda v: _is_num(v) and v > 0, "a number > 0")
_BOOL = Rule(lambda v: isinstance(v, bool), "true or false")

#: Every kind-specific parameter and its rule (a parameter means the same in every kind that takes it).
PARAM_RULES: dict[str, Rule] = {
    "steps": _POS_INT,
    "alpha_over_eps": _POS_NUM,
    "restarts": _POS_INT,
    "random_start": _BOOL,
    "c": _POS_NUM,
    "kappa": Rule(lambda v: _is_num(v) and v >= 0, "a number >= 0"),
    "lr": _POS_NUM,
    "version": Rule(lambda v: v == "standard", "'standard' (the only version implemented)"),
    "n_iter": _POS_INT,
    "n_restarts": _POS_INT,
    "n_target_classes": _POS_INT,
    "n_queries": _POS_INT,
    "p_init": Rule(lambda v: _is_num(v) and 0 < v <= 1, "a number in (0, 1]"),
    "loss": Rule(lambda v: v in ("margin", "ce"), "'margin' or 'ce'"),
    "resc_schedule": _BOOL,
    "rho": Rule(lambda v: _is_num(v) and 0 < v < 1, "a number in (0, 1)"),
    "eot_iter": _POS_INT,
    "alpha_max": Rule(lambda v: _is_num(v) and 0 < v <= 1, "a number in (0, 1]"),
    "eta": Rule(lambda v: _is_num(v) and v >= 1, "a number >= 1"),
    "beta": Rule(lambda v: _is_num(v) and 0 < v < 1, "a number in (0, 1)"),
}

#: Keys every attack spec has / may have besides its kind's parameters.
COMMON_REQUIRED: tuple[str, ...] = ("kind", "budgets")
COMMON_OPTIONAL: tuple[str, ...] = ("subset", "role", "cascade", "seeds", "main_only")
COMMON_RULES: dict[str, Rule] = {
    "subset": _POS_INT,
    "seeds": Rule(
        lambda v: (
            isinstance(v, list)
            and len(v) > 0
            and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in v)
            and len(set(v)) == len(v)
        ),
        "a non-empty list of distinct seeds",
    ),
    "role": Rule(lambda v: v in ROLES, f"one of {list(ROLES)}"),
    "cascade": _BOOL,
    "main_only": _BOOL,
}
BUDGET_KEYWORDS: frozenset[str] = frozenset({"all", "largest", "l2"})

# Constants of the reference AutoAttack (fra31/auto-attack, version='standard') that the
# config does not expose; passed explicitly so no torchattacks default is relied upon.
AA_APGD_RHO: float = 0.75
AA_EOT_ITER: int = 1
AA_FAB_ALPHA_MAX: float = 0.1
AA_FAB_ETA: float = 1.05
AA_FAB_BETA: float = 0.9
AA_SQUARE_P_INIT: float = 0.8
AA_SQUARE_RESC_SCHEDULE: bool = False  # reference AutoAttack builds SquareAttack(resc_schedule=False)
AA_SQUARE_LOSS: str = "margin"

#: APGD iterations of the reference standard AutoAttack; fewer is not "AutoAttack strength".
AA_STANDARD_ITER: int = 100


@dataclass(frozen=True)
class AttackKind:
    """One attack kind: its config name, display label, norm, parameters, builder and default role.

    ``gradient``: a white-box attack that uses only input gradients (check 3 compares Square with these).
    ``apgd``: which APGD components of standard AutoAttack the kind contains ("ce", "t"), and the key of
    its iteration count, so the worst case can say whether it is of AutoAttack strength.
    """

    name: str
    label: str
    norm: Norm
    params: tuple[str, ...]
    builder: str
    default_role: Role
    gradient: bool
    apgd: frozenset[str] = frozenset()
    iter_key: str | None = None

    def build(self, spec: dict, model: Any, eps: float, n_classes: int, seed: int) -> Any:
        """The attack object for one spec at budget ε (imports the builder's module on first use)."""
        module, func = self.builder.split(":")
        return getattr(importlib.import_module(module), func)(spec, model, float(eps), n_classes, seed)


_B = "sagr.attacks:"
ATTACK_REGISTRY: dict[str, AttackKind] = {
    k.name: k
    for k in (
        AttackKind("fgsm", "FGSM", Norm.LINF, (), _B + "build_fgsm", Role.BASELINE, True),
        AttackKind(
            "pgd",
            "PGD",
            Norm.LINF,
            ("steps", "alpha_over_eps", "restarts", "random_start"),
            _B + "build_pgd",
            Role.BASELINE,
            True,
        ),
        AttackKind(
            "cw_inf",
            "CW-∞",
            Norm.LINF,
            ("steps", "alpha_over_eps", "restarts", "random_start"),
            _B + "build_cw_inf",
            Role.BASELINE,
            True,
        ),
        AttackKind(
            "cw_l2", "CW-L2", Norm.L2, ("c", "kappa", "steps", "lr"), _B + "build_cw_l2", Role.BASELINE, True
        ),
        AttackKind(
            "apgd_ce",
            "APGD-CE",
            Norm.LINF,
            ("n_iter", "n_restarts", "rho", "eot_iter"),
            _B + "build_apgd_ce",
            Role.STRONG,
            True,
            frozenset({"ce"}),
            "n_iter",
        ),
        AttackKind(
            "apgd_t",
            "APGD-T",
            Norm.LINF,
            ("n_iter", "n_restarts", "n_target_classes", "rho", "eot_iter"),
            _B + "build_apgd_t",
            Role.STRONG,
            True,
            frozenset({"t"}),
            "n_iter",
        ),
        AttackKind(
            "fab_t",
            "FAB-T",
            Norm.LINF,
            ("n_iter", "n_restarts", "n_target_classes", "alpha_max", "eta", "beta"),
            _B + "build_fab_t",
            Role.STRONG,
            True,
        ),
        AttackKind(
            "square",
            "Square",
            Norm.LINF,
            ("n_queries", "p_init", "n_restarts", "loss", "resc_schedule"),
            _B + "build_square",
            Role.BLACKBOX,
            False,
        ),
        # torchattacks components in one MultiAttack; contains Square, so not a gradient-only attack.
        AttackKind(
            "autoattack",
            "AutoAttack",
            Norm.LINF,
            ("version", "n_iter", "n_restarts", "n_target_classes", "n_queries"),
            _B + "build_autoattack",
            Role.STRONG,
            False,
            frozenset({"ce", "t"}),
            "n_iter",
        ),
        AttackKind(
            "autoattack_ref",
            "AutoAttack (reference)",
            Norm.LINF,
            ("version", "n_iter", "n_restarts", "n_target_classes", "n_queries"),
            _B + "build_reference_autoattack",
            Role.REFERENCE,
            False,
            frozenset({"ce", "t"}),
            "n_iter",
        ),
    )
}

#: Derived views (kept for callers of the old module-level tables).
ATTACK_KINDS: dict[str, tuple[str, ...]] = {k: v.params for k, v in ATTACK_REGISTRY.items()}
L2_KINDS: frozenset[str] = frozenset(k for k, v in ATTACK_REGISTRY.items() if v.norm is Norm.L2)
GRADIENT_KINDS: frozenset[str] = frozenset(k for k, v in ATTACK_REGISTRY.items() if v.gradient)


def kind_of(spec: dict) -> AttackKind:
    """Registry entry of a (validated) spec."""
    return ATTACK_REGISTRY[spec["kind"]]


def role_of(spec: dict) -> str:
    """The spec's declared role, or its kind's default role."""
    return str(spec.get("role", kind_of(spec).default_role.value))


def attack_norm(kind: str) -> str:
    """Threat-model norm of an attack kind: 'l2' or 'linf'."""
    return ATTACK_REGISTRY[kind].norm.value


def is_cascade(spec: dict) -> bool:
    """True when the attack runs only on the points every non-cascade attack (and earlier cascade ones) left robust."""
    return bool(spec.get("cascade", False))


def _validate_budgets(name: str, kind: str, budgets: Any) -> None:
    """Raise ValueError unless `budgets` is a keyword valid for the kind's norm or a list of ε > 0."""
    if isinstance(budgets, str):
        if budgets not in BUDGET_KEYWORDS:
            raise ValueError(
                f"attack {name!r}: budgets {budgets!r} must be one of "
                f"{sorted(BUDGET_KEYWORDS)} or a list of numbers"
            )
        if budgets == "l2" and kind not in L2_KINDS:
            raise ValueError(
                f"attack {name!r}: budgets 'l2' is only valid for L2 attacks "
                f"({sorted(L2_KINDS)}), not kind {kind!r}"
            )
        return
    if not isinstance(budgets, (list, tuple)) or not budgets:
        raise ValueError(f"attack {name!r}: budgets must be a keyword or a non-empty list, got {budgets!r}")
    for b in budgets:
        if not _is_num(b) or b <= 0:
            raise ValueError(f"attack {name!r}: budget {b!r} in budgets must be a number > 0")


def validate_suite(suite: dict) -> None:
    """Check every attack spec (kind, required/unknown keys, values, role) before any job runs; raise ValueError naming it."""
    if not isinstance(suite, dict) or not suite:
        raise ValueError("attack suite must be a non-empty mapping name -> spec")
    for name, spec in suite.items():
        if name == "clean" or str(name).startswith("worst"):
            raise ValueError(f"attack name {name!r} is reserved (clean record / worst-case keys)")
        if "@" in str(name):
            raise ValueError(f"attack {name!r}: '@' is not allowed in attack names")
        if not isinstance(spec, dict):
            raise ValueError(f"attack {name!r}: spec must be a mapping, got {type(spec).__name__}")
        if "kind" not in spec:
            raise ValueError(f"attack {name!r}: missing key 'kind'")
        kind = spec["kind"]
        if kind not in ATTACK_REGISTRY:
            raise ValueError(f"attack {name!r}: unknown kind {kind!r} (known: {sorted(ATTACK_REGISTRY)})")
        params = ATTACK_REGISTRY[kind].params
        required = COMMON_REQUIRED + params
        missing = [k for k in required if k not in spec]
        if missing:
            raise ValueError(f"attack {name!r} (kind {kind!r}): missing key(s) {missing}")
        unknown = [k for k in spec if k not in required and k not in COMMON_OPTIONAL]
        if unknown:
            raise ValueError(
                f"attack {name!r} (kind {kind!r}): unknown key(s) {unknown}; "
                f"allowed: {list(required) + list(COMMON_OPTIONAL)}"
            )
        for key in params + COMMON_OPTIONAL:
            if key in spec:
                rule = PARAM_RULES.get(key) or COMMON_RULES[key]
                if not rule.ok(spec[key]):
                    raise ValueError(f"attack {name!r}: key {key!r} = {spec[key]!r} must be {rule.what}")
        _validate_budgets(name, kind, spec["budgets"])
        if spec.get("restarts", 1) > 1 and spec.get("random_start") is False:
            raise ValueError(f"attack {name!r}: restarts > 1 without random_start repeats the same run")
        if is_cascade(spec) and "subset" in spec and role_of(spec) != Role.REFERENCE.value:
            raise ValueError(
                f"attack {name!r}: 'cascade' and 'subset' exclude each other (a cascade attack "
                "runs on every point still robust, so the worst case stays exact on all points); "
                "only a reference-role cross-check may run on the still-robust points of a prefix"
            )
        if is_cascade(spec) and ATTACK_REGISTRY[kind].norm is not Norm.LINF:
            raise ValueError(f"attack {name!r}: only L∞ attacks can run in the cascade")


def _budgets_text(spec: dict) -> str:
    """Where an attack runs, in words: at every ε, at the largest, or at the listed ones."""
    budgets = spec["budgets"]
    if budgets == "all":
        return "at every ε"
    if budgets == "largest":
        return "at the largest ε"
    return f"at ε = {', '.join(f'{float(b):g}' for b in budgets)}" if isinstance(budgets, list) else ""


def runs_on_seed(spec: dict, seed: int) -> bool:
    """Whether an attack runs on the models of this training seed (``seeds`` restricts costly cross-checks)."""
    return "seeds" not in spec or seed in spec["seeds"]


def runs_on(spec: dict, seed: int, main: bool) -> bool:
    """Whether an attack runs on a model of this seed that is (``main``) or is not in the main
    comparison: ``main_only`` keeps costly cross-checks off the ablation's sweep points."""
    return runs_on_seed(spec, seed) and (main or not spec.get("main_only", False))


def suite_for_seed(attacks: dict[str, dict], seed: int, main: bool = True) -> list[str]:
    """The attack names, in config order, that a model of this training seed is evaluated with
    (``main``: the model is in the main comparison, not only an ablation sweep point)."""
    return [name for name, spec in attacks.items() if runs_on(spec, seed, main)]


def resolve_budgets(spec: dict, eps_linf: list[float], eps_l2: list[float]) -> list[float]:
    """The ε list an attack runs at: 'all'/'largest' over its own norm's list, 'l2' = the L2 list, or explicit."""
    budgets = spec["budgets"]
    pool = [float(e) for e in (eps_l2 if attack_norm(spec["kind"]) == "l2" else eps_linf)]
    if budgets in ("all", "l2"):
        out = pool
    elif budgets == "largest":
        out = [max(pool)] if pool else []
    else:
        out = [float(b) for b in budgets]
    if not out:
        raise ValueError(
            f"attack kind {spec['kind']!r}: budgets {budgets!r} resolve to no ε "
            f"(dataset lists: linf={eps_linf}, l2={eps_l2})"
        )
    return out


def apgd_strength(specs: list[dict]) -> bool:
    """True when these attacks (at one ε, each covering every point: no subset) contain APGD-CE and APGD-T
    with at least the reference standard AutoAttack's iterations."""
    have: set[str] = set()
    for spec in specs:
        kind = kind_of(spec)
        if "subset" in spec or not kind.apgd or int(spec[kind.iter_key]) < AA_STANDARD_ITER:
            continue
        have |= kind.apgd
    return {"ce", "t"} <= have


#: Points a default-scale comparison should have (the reference standard of the issue tracker).
FULL_N_EVAL: int = 400


def _seeds_text(seeds: list[int]) -> str:
    return ", ".join(str(x) for x in seeds)


def _wilson_half_width(p: float, n: int, z: float = 1.96) -> float:
    """Half-width of the 95 % Wilson interval of a proportion p on n points."""
    return z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)


def evaluation_departures(config: dict) -> list[str]:
    """Where this config's evaluation is weaker than full standard AutoAttack on ≥ FULL_N_EVAL points, and what it costs."""
    out = []
    small = {
        d: c["eval_subset"]
        for d, c in config["datasets"].items()
        if c.get("eval_subset") and c["eval_subset"] < FULL_N_EVAL
    }
    if small:
        n = min(small.values())
        out.append(
            f"Evaluation on {', '.join(f'{d}: {k}' for d, k in small.items())} test points per model, not "
            f"{FULL_N_EVAL}, to fit the time budget: a 95 % interval at 50 % accuracy is ±"
            f"{100 * _wilson_half_width(0.5, n):.1f} points instead of ±{100 * _wilson_half_width(0.5, FULL_N_EVAL):.1f} "
            f"(at 10 %: ±{100 * _wilson_half_width(0.1, n):.1f} instead of ±{100 * _wilson_half_width(0.1, FULL_N_EVAL):.1f})."
        )
    attacks = config["attacks"]
    for name, s in attacks.items():
        if s["kind"] == "apgd_t" and is_cascade(s) and int(s["n_target_classes"]) < 9:
            k = int(s["n_target_classes"])
            what = "the most likely wrong class" if k == 1 else f"the {k} most likely wrong classes"
            out.append(
                f"APGD-T ({name}) targets {what}, not the 9 of standard AutoAttack (its iterations are the "
                "standard 100)."
            )
    cascade_kinds = {
        s["kind"] for s in attacks.values() if is_cascade(s) and role_of(s) != Role.REFERENCE.value
    }
    if not {"fab_t", "square"} <= cascade_kinds:
        refs = [s for s in attacks.values() if role_of(s) == Role.REFERENCE.value]
        where = (
            f" FAB-T and Square run only inside the reference AutoAttack, on the still-robust points among the "
            f"first {refs[0].get('subset', 'all')} points {_budgets_text(refs[0])}"
            + (f", of the models of seed {_seeds_text(refs[0]['seeds'])} only" if "seeds" in refs[0] else "")
            + "; a point they break counts in that model's worst case, and the reference-vs-torchattacks test "
            "flags a model where they break significantly more"
            if refs
            else ""
        )
        out.append(
            "The per-ε worst case contains APGD-CE and APGD-T, not FAB-T and Square on every point."
            + where
            + "."
        )
    skipped = [name for name, s in attacks.items() if s.get("main_only")]
    if skipped and config.get("ablation", {}).get("sweeps"):
        out.append(
            f"The ablation's sweep points (other than the main comparison's models) are evaluated without "
            f"{', '.join(skipped)}: their worst case is the same cascade's as the main models', but they "
            "have no masking checks and no reference cross-check."
        )
    main_seeds = set(config["seeds"]).union(*(config.get("method_seeds") or {}).values())
    n_seeds = len(main_seeds)
    for name, s in attacks.items():
        if "seeds" in s and main_seeds - set(s["seeds"]):
            out.append(
                f"{name} ({ATTACK_REGISTRY[s['kind']].label}, role {role_of(s)}) runs on the models of seed "
                f"{_seeds_text(s['seeds'])} only, not on all {n_seeds} seeds, to fit the time budget: where it "
                "breaks a point no other attack breaks, those models' worst case is lower than the other seeds' "
                "would be under the same suite."
            )
    for name, s in attacks.items():
        if role_of(s) == Role.BLACKBOX.value and int(s.get("n_queries", 5000)) < 5000:
            out.append(
                f"The black-box Square of masking check 3 ({name}) uses {s['n_queries']} queries (standard: "
                "5000), so the check finds less masking than it could."
            )
    return out
