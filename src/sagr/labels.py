"""Display names and orders of the report's keys, in one place.

Logic never keys on these strings: tables and figures carry the keys (method ``"sagr"``, attack
``"pgd"``) and map them to labels only when they are displayed. Methods and datasets take their
labels and order from `sagr.registry`, as do architectures; an attack of the suite takes its label from its kind's
entry in `sagr.attack_kinds` (and its role's, when that is not the kind's default), never from
the name a config gave it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping

from sagr import registry
from sagr.attack_kinds import ATTACK_REGISTRY, ROLE_LABELS, Role

WORST = "worst_case"  # the attack key of the per-point worst case over every attack at one ε
CLEAN = "clean"
# Which points a clean accuracy was read on: the whole test split (training records) or the
# evaluation subset. Values are shown as they are; code compares against these names only.
ON_TEST_SPLIT = "test split"
ON_EVAL_POINTS = "evaluation points"

# Labels and orders of methods come from their registry entries (issue 8); datasets' and
# architectures' labels are read from theirs at call time (registry.dataset_label, arch_label).
METHOD_ORDER = registry.method_order()
METHOD_LABELS = {name: m.label for name, m in registry.methods().items()}
# The rows of a robustness table that are no attack of the suite; the worst case comes right
# after clean: it is the headline number, and wide tables scroll.
SPECIAL_ATTACKS = {CLEAN: "Clean", WORST: "Worst case"}
_ROLE_ORDER = list(Role)
_KIND_ORDER = list(ATTACK_REGISTRY)
# A suite: attack name -> (kind, role) as its records state them (sagr.results.Results.suite).
Suite = Mapping[str, tuple[str, "str | None"]]
CHECK_ORDER = ["monotone_eps", "unbounded_zero", "blackbox_not_stronger", "more_steps_no_gain"]
# Saliency metrics: label and the direction that means "sharper" (+1: higher is sharper).
SALIENCY_METRICS = {
    "gini": ("Gini", +1),
    "entropy": ("Entropy", -1),
    "alignment": ("Alignment", +1),
    "foreground_mass": ("Foreground mass", +1),
}
PARAM_LABELS = {
    "beta": "β",
    "lam": "λ",
    "T": "T",
    "form": "form",
    "estimator": "estimator",
    "n_proj": "projections",
}
NORM_LABELS = {"linf": "L∞", "l2": "L2", "none": "–"}
DEVICE_LABELS = {"cpu": "CPU", "cuda": "GPU"}
ESTIMATOR_LABELS = {"exact": "exact", "projection": "projection", "jvp": "JVP"}


def dataset_label(name: str) -> str:
    """Human name of a dataset key."""
    return registry.dataset_label(name)


def method_label(name: str) -> str:
    """Human name of a method key."""
    return METHOD_LABELS.get(name, name)


def _kind_role(name: str, suite: Suite):
    """The registry entry and role of a suite's attack (None, None for an unknown kind)."""
    kind, role = suite.get(name, (None, None))
    entry = ATTACK_REGISTRY.get(kind)
    if entry is None:
        return None, None
    return entry, Role(role) if isinstance(role, str) else entry.default_role  # older files: no role


def attack_labels(suite: Suite) -> dict[str, str]:
    """Display name of every attack of ``suite`` (and of clean and the worst case): its kind's label,
    qualified by its role when that is not the kind's default ("PGD (strong)"); the config name is
    added where two attacks would share a label, and stands alone for a kind the registry lacks."""
    labels = {}
    for name in suite:
        entry, role = _kind_role(name, suite)
        if entry is None:
            labels[name] = name
            continue
        qualifier = "" if role is entry.default_role else f" ({ROLE_LABELS[role]})"
        labels[name] = entry.label + qualifier
    shared = Counter(labels.values())
    labels = {n: label if shared[label] == 1 else f"{label} [{n}]" for n, label in labels.items()}
    return {**labels, **SPECIAL_ATTACKS}


def attack_rank(suite: Suite) -> Callable[[str], tuple]:
    """Sort key of a suite's attacks: clean, the worst case, then by role (baselines first) and by
    kind in registry order; kinds the registry lacks last, by name."""
    special = list(SPECIAL_ATTACKS)

    def key(name: str) -> tuple:
        if name in special:
            return (0, special.index(name), 0, name)
        entry, role = _kind_role(name, suite)
        if entry is None:
            return (2, 0, 0, str(name))
        return (1, _ROLE_ORDER.index(role), _KIND_ORDER.index(entry.name), name)

    return key


def metric_label(name: str) -> str:
    """Saliency metric with the arrow that says which way is sharper."""
    label, sign = SALIENCY_METRICS.get(name, (name, +1))
    return f"{label} {'↑' if sign > 0 else '↓'}"


def param_label(name: str) -> str:
    """Greek letter or name of a swept hyper-parameter."""
    return PARAM_LABELS.get(name, name)


def arch_label(name: str) -> str:
    """Human name of a model architecture key."""
    return registry.arch_label(name)


def estimator_label(name: str) -> str:
    """Human name of a Jacobian-norm estimator key."""
    return ESTIMATOR_LABELS.get(name, name)


def _rank(order: list[str]) -> Callable[[str], tuple[int, str]]:
    """Sort key placing known names in `order` first, unknown ones after, alphabetically."""
    return lambda name: (order.index(name) if name in order else len(order), str(name))


method_rank = _rank(METHOD_ORDER)
check_rank = _rank(CHECK_ORDER)
param_rank = _rank(list(PARAM_LABELS))


def sorted_methods(names: Iterable[str]) -> list[str]:
    """Methods in the paper's order (baselines first, SAGR last)."""
    return sorted(set(names), key=method_rank)
