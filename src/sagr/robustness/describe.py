"""The attack suite in words, for the report: built when the report is rendered from the attack specs
the results record (`Results.attack_specs`) and the attack-kind registry, never stored in a result
(rewording it reruns nothing)."""

from __future__ import annotations

from ..attack_kinds import (
    AA_APGD_RHO,
    AA_FAB_ALPHA_MAX,
    AA_FAB_BETA,
    AA_FAB_ETA,
    AA_SQUARE_P_INIT,
    Role,
    is_cascade,
    kind_of,
    role_of,
)


def describe_autoattack(spec: dict) -> str:
    """One paragraph for the report: the AutoAttack configuration actually run and how it differs from the reference."""
    n_iter, n_restarts = int(spec["n_iter"]), int(spec["n_restarts"])
    n_targets, n_queries = int(spec["n_target_classes"]), int(spec["n_queries"])
    matches = n_iter == 100 and n_restarts == 1 and n_targets == 9 and n_queries == 5000
    budget = (
        ""
        if matches
        else " This run's budget is NOT the reference one (reference: 100 iterations, 1 restart, "
        "9 target classes, 5000 queries), so its robust accuracy is a looser upper bound than "
        "standard AutoAttack's."
    )
    return (
        "AutoAttack, standard version, L∞, assembled from torchattacks 3.5.1 components in a MultiAttack "
        "that runs each attack only on the points all earlier ones failed to fool (as the reference does): "
        f"APGD-CE ({n_iter} iterations, {n_restarts} restart(s), ρ={AA_APGD_RHO}), "
        f"APGD-T (targeted DLR loss, {n_iter} iterations, {_n_target_text(n_targets)}, {n_restarts} restart(s) each), "
        f"FAB-T ({n_iter} iterations, {_n_target_text(n_targets)}, {n_restarts} restart(s) each, "
        f"α_max={AA_FAB_ALPHA_MAX}, η={AA_FAB_ETA}, β={AA_FAB_BETA}) and Square ({n_queries} queries, "
        f"p_init={AA_SQUARE_P_INIT}, margin loss, 1 restart, p schedule not rescaled), all with one fixed seed. "
        "We do not use torchattacks.AutoAttack(version='standard') because it leaves APGD, APGD-T and FAB at "
        "torchattacks' default of 10 iterations (the reference uses 100), targets n_classes−1 classes instead "
        "of 9 (the same for 10-class data), and rescales Square's p schedule to the query budget (the reference "
        "passes resc_schedule=False). Remaining differences from the reference implementation (fra31/auto-attack): "
        "the component code is torchattacks' port of it (same algorithms and constants), and the reference's "
        "sanity checks (randomised or non-logit outputs, dynamic models, a warning when Square alone lowers "
        "the accuracy) are not run; the last one is covered by our gradient-masking check 3." + budget
    )


def _params_text(spec: dict) -> str:
    """'n_iter=100, n_restarts=1, …' for one spec (its kind's parameters, in registry order)."""
    return ", ".join(f"{k}={spec[k]}" for k in kind_of(spec).params)


def describable(spec: dict) -> bool:
    """Whether a recorded spec states what `describe_suite` reads (records written by hand or before
    specs were recorded may not)."""
    return {"kind", "budgets"} <= spec.keys()


def describe_suite(suite: dict) -> str:
    """One paragraph for the report: how the per-ε worst case is assembled (fixed attacks, then the
    AutoAttack-style cascade) and how the reference AutoAttack is run, every parameter stated."""
    fixed = [
        f"{n} ({kind_of(s).label}, {role_of(s)}, on "
        + (f"the first {s['subset']} points" if "subset" in s else "every point")
        + ")"
        for n, s in suite.items()
        if not is_cascade(s)
    ]
    cascade = [
        f"{n} ({kind_of(s).label}: {_params_text(s)}; budgets {s['budgets']})"
        for n, s in suite.items()
        if is_cascade(s) and role_of(s) != Role.REFERENCE.value
    ]
    refs = [
        f"{n} ({_params_text(s)}; budgets {s['budgets']})"
        for n, s in suite.items()
        if role_of(s) == Role.REFERENCE.value
    ]
    text = "At each ε the attacks on fixed points run first: " + "; ".join(fixed) + ". "
    if cascade:
        text += (
            "Then, as in AutoAttack's own cascade, each of the following torchattacks attacks runs only on the "
            "points that every earlier attack at that ε left correctly classified, so the worst case is exact "
            "on every evaluated point: " + "; ".join(cascade) + ". APGD ρ, EOT iterations, FAB α_max/η/β and "
            "Square's p_init/loss are the reference values, set explicitly. "
        )
    if refs:
        text += (
            "The reference AutoAttack (Croce & Hein's code, PyPI package pyautoattack, standard version, its "
            "components rebuilt with these explicit parameters) runs on the same points as torchattacks' "
            "cascade: " + "; ".join(refs) + "; the two are compared with an exact McNemar test. "
        )
    return text + (
        "A per-attack accuracy is measured on the points it ran on (n, and `points`: all, a prefix "
        "subset, or the cascade's still-robust points); only the worst case is over all points."
    )


def _n_target_text(n: int) -> str:
    """'9 target classes' with the right plural."""
    return f"{n} target class" + ("" if n == 1 else "es")
