"""Where this implementation departs from ../shared/METHOD.md, stated in the report."""

from __future__ import annotations

from typing import Any

from . import registry
from .literature import training_departures

ALWAYS = [
    "CW-inf is PGD on the C&W margin loss written as a small torchattacks.Attack subclass "
    "(sagr.attacks.MarginPGD): torchattacks' own margin-loss UPGD excludes the true logit by "
    "comparing with 0 and yields NaN where the gradient vanishes.",
    "CW-L2 is torchattacks' CW (fixed c, no binary search over c, two upstream bugs fixed in a "
    "subclass): its accuracy at each L2 budget is an upper bound on the true L2 robust accuracy.",
    "Masking check 3 (black-box Square not stronger than white-box) compares Square, point by point, "
    "with the union of the gradient-only attacks (PGD, CW-inf, APGD, FAB-T), not with AutoAttack: "
    "AutoAttack contains Square, so the check could never fail against it.",
    "AutoAttack's components (torchattacks' APGD-CE, APGD-T and, where configured, FAB-T and Square) "
    "run as a cascade with every parameter explicit (torchattacks' AutoAttack(version='standard') "
    "runs 10 iterations), after the "
    "fixed attacks; the reference implementation (pyautoattack) runs beside it on the same points "
    "as a cross-check, with its own sanity checks.",
]


def departures(config: dict[str, Any]) -> list[str]:
    """The departures that apply to this config."""
    from .attack_kinds import evaluation_departures

    out = list(ALWAYS) + evaluation_departures(config)
    ramped = {d: c["eps_ramp"] for d, c in config["datasets"].items() if c["eps_ramp"] > 0}
    configured = [m for name, m in registry.methods().items() if name in config["methods"]]
    on_eps = [m.label for m in configured if m.trains_on_eps]
    if ramped and on_eps:
        out.append(
            f"{_join(on_eps)} grow{'s' if len(on_eps) == 1 else ''} the training budget linearly from 0 to "
            "train_eps over the first "
            f"fraction of training ({', '.join(f'{d}: {f:g}' for d, f in ramped.items())}); from scratch at "
            "the full budget, short CPU runs stall at chance accuracy."
        )
    out += [m.departure for m in configured if m.departure]
    reduced = {d: c["train_subset"] for d, c in config["datasets"].items() if c["train_subset"]}
    if reduced:
        out.append(
            "Scaled-down run: models are trained on fixed subsets of the training sets "
            f"({', '.join(f'{d}: {n}' for d, n in reduced.items())} images) for "
            f"{', '.join(str(c['epochs']) for c in config['datasets'].values())} epochs; numbers show the "
            "methods' ordering, not the paper's absolute accuracies (config/paper.yaml is the full study)."
        )
    out.extend(recipe_departures(config))
    out.extend(training_departures(config))
    out.extend(scope_departures(config))
    return out


def recipe_departures(config: dict[str, Any]) -> list[str]:
    """One sentence per dataset with per-method recipes: who trains how long, after which source, and
    the held-out validation images that leave the training set."""
    out = []
    for dataset, dcfg in config["datasets"].items():
        recipes = dcfg.get("recipes", {})
        if not recipes and not dcfg.get("validation"):
            continue
        label = registry.dataset_label(dataset)
        own = [
            f"{registry.method(m).label}: {r.get('epochs', dcfg['epochs'])} epochs"
            + (f" (after {r['source']})" if r.get("source") else "")
            for m, r in recipes.items()
            if m in config["methods"]
        ]
        rest = [registry.method(m).label for m in config["methods"] if m not in recipes]
        text = f"{label} training recipes: {_join(rest)}: {dcfg['epochs']} epochs" if rest else f"{label}:"
        if own:
            text += "; " + "; ".join(own)
        text += (
            ". The published settings train far longer (e.g. Madry et al. about 83 epochs with PGD-40); "
            "these shorter schedules are held to the published accuracies by the report's quality floors."
        )
        if dcfg.get("validation"):
            text += (
                f" {dcfg['validation']['n']} training images are held out for the per-epoch validation "
                "curves, so models train on the rest."
            )
        out.append(text)
    return out


#: Seeds a study needs for its seed-to-seed spread to mean something (the issue tracker's standard).
STUDY_SEEDS = 3


def scope_departures(config: dict[str, Any]) -> list[str]:
    """What this run leaves out of METHOD.md's study: datasets, and seeds below STUDY_SEEDS."""
    out = []
    left = [d.label for d in registry.DATASETS.values() if d.in_study and d.name not in config["datasets"]]
    if left:
        out.append(
            f"This run covers {_join([registry.dataset_label(d) for d in config['datasets']])}, not "
            f"{_join(left)} of METHOD.md's datasets, to fit its time budget; every table, figure and claim "
            "verdict holds for the datasets shown only (the other configs in config/ add the rest)."
        )
    ablation = config.get("ablation") or {}
    k = len(ablation.get("seeds") or [0])
    if ablation.get("sweeps") and ablation.get("datasets") and k < STUDY_SEEDS:
        out.append(
            f"The ablation's sweep points (the λ curves, the β sweep) are trained at {k} seed"
            f"{'s' if k != 1 else ''}, not {STUDY_SEEDS}: C2m, C3m and C4 rest on them, so their intervals carry "
            "no seed spread; `--configfile config/config.yaml config/curves.yaml` trains them at 3."
        )
    n = len(config["seeds"])
    if n < STUDY_SEEDS:
        out.append(
            f"{n} seed{'s' if n != 1 else ''} per method, not {STUDY_SEEDS}: the seed-to-seed spread is "
            "estimated from too few models to be relied on."
        )
    return out


def _join(labels: list[str]) -> str:
    """ "A", "A and B", "A, B and C"."""
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
