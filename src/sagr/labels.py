"""Display names and orders of the report's keys, in one place.

Logic never keys on these strings: tables and figures carry the keys (method ``"sagr"``, attack
``"pgd"``) and map them to labels only when they are displayed. Methods and datasets take their
labels and order from `sagr.registry`; attacks keep theirs here until the attack-kind registry
(issue 7) lands, the one place to switch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sagr import registry

WORST = "worst_case"  # the attack key of the per-point worst case over every attack at one ε
CLEAN = "clean"

# Labels and orders of methods and datasets come from their registry entries (issue 8).
DATASET_LABELS = {name: d.label for name, d in registry.DATASETS.items()}
METHOD_ORDER = registry.method_order()
METHOD_LABELS = {name: m.label for name, m in registry.methods().items()}
# The worst case comes right after clean: it is the headline number, and wide tables scroll.
ATTACK_ORDER = [
    CLEAN,
    WORST,
    "fgsm",
    "pgd",
    "pgd_strong",
    "cw_inf",
    "apgd_ce",
    "apgd_t",
    "autoattack",
    "square",
    "reference_autoattack",
    "pgd_unbounded",
    "cw_l2",
]
ATTACK_LABELS = {
    CLEAN: "Clean",
    WORST: "Worst case",
    "fgsm": "FGSM",
    "pgd": "PGD",
    "pgd_strong": "PGD (strong)",
    "cw_inf": "CW-∞",
    "cw_l2": "CW-L2",
    "apgd_ce": "APGD-CE",
    "apgd_t": "APGD-T",
    "autoattack": "AutoAttack",
    "square": "Square",
    "pgd_unbounded": "PGD unbounded",
    "reference_autoattack": "AutoAttack (reference)",
}
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
ARCH_LABELS = {
    "small_cnn": "small CNN",
    "small_cnn_wide": "small CNN (wide)",
    "preact_resnet18": "PreActResNet-18",
    "preact_resnet18_tiny": "PreActResNet-18 (tiny)",
}
DEVICE_LABELS = {"cpu": "CPU", "cuda": "GPU"}
ESTIMATOR_LABELS = {"exact": "exact", "projection": "projection", "jvp": "JVP"}


def dataset_label(name: str) -> str:
    """Human name of a dataset key."""
    return DATASET_LABELS.get(name, name)


def method_label(name: str) -> str:
    """Human name of a method key."""
    return METHOD_LABELS.get(name, name)


def attack_label(name: str) -> str:
    """Human name of an attack key (the name of an entry of the config's suite)."""
    return ATTACK_LABELS.get(name, name)


def metric_label(name: str) -> str:
    """Saliency metric with the arrow that says which way is sharper."""
    label, sign = SALIENCY_METRICS.get(name, (name, +1))
    return f"{label} {'↑' if sign > 0 else '↓'}"


def param_label(name: str) -> str:
    """Greek letter or name of a swept hyper-parameter."""
    return PARAM_LABELS.get(name, name)


def arch_label(name: str) -> str:
    """Human name of a model architecture key."""
    return ARCH_LABELS.get(name, name)


def estimator_label(name: str) -> str:
    """Human name of a Jacobian-norm estimator key."""
    return ESTIMATOR_LABELS.get(name, name)


def _rank(order: list[str]) -> Callable[[str], tuple[int, str]]:
    """Sort key placing known names in `order` first, unknown ones after, alphabetically."""
    return lambda name: (order.index(name) if name in order else len(order), str(name))


method_rank = _rank(METHOD_ORDER)
attack_rank = _rank(ATTACK_ORDER)
check_rank = _rank(CHECK_ORDER)
param_rank = _rank(list(PARAM_LABELS))


def sorted_methods(names: Iterable[str]) -> list[str]:
    """Methods in the paper's order (baselines first, SAGR last)."""
    return sorted(set(names), key=method_rank)
