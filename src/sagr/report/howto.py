"""How to read the report: the conventions of every cell, stated once."""

from __future__ import annotations

from sagr import claims as C
from sagr.document import (
    Section,
    Span,
)
from sagr.labels import (
    dataset_label,
)
from sagr.presentation import FLAG
from sagr.report.blocks import para
from sagr.results import Results
from sagr.stats import LEVEL, POWER


def howto_section(res: Results) -> Section:
    n_eval = {dataset_label(d): res.eval_sizes(d) for d in res.datasets()}
    return Section("howto", "How to read the numbers").add(
        para(
            "Accuracies are in % on a fixed, seeded test subset (",
            "; ".join(f"{d}: n = {', '.join(map(str, n))}" for d, n in n_eval.items()),
            "), the same points for every model; higher is more robust; ε is the attack budget in [0, 1] "
            "pixel space. ",
            Span("± sd is the seed-to-seed spread", "b"),
            " (no ± with one seed); ",
            Span("[low, high] is the point-sampling error", "b"),
            f", a {100 * LEVEL:g} % Clopper–Pearson interval for n test points. Every column head (or cell) "
            "states its n; “subset” marks numbers on the first n points only and “cascade” numbers on the "
            "points cheaper attacks left robust: never compare those with full-n numbers as if they were "
            "alike. Differences (A − B) are paired over the same seeds and points. A ",
            Span(FLAG, "warn"),
            " next to a method means one of its models failed a gradient-masking check: treat its robust "
            "numbers as suspect. What each method, attack, metric and check computes: ",
            Span("docs/method.md", href="../docs/method.md"),
            ".",
        ),
        para(
            "A claim of the paper is a set of paired comparisons A − B (same seeds, same points), each with the "
            "sign the claim predicts, and its intervals are Bonferroni-adjusted (level 1 − 0.05/k for k "
            "comparisons, family-wise 5 %). ",
            Span(C.SUPPORTED, "b"),
            ": every interval on the predicted side of 0; ",
            Span(C.CONTRADICTED, "b"),
            ": some interval entirely on the other side; ",
            Span(C.INCONCLUSIVE, "b"),
            ": otherwise; ",
            Span(C.NOT_TESTED, "b"),
            ": the runs it needs are missing. A worst-case comparison where both models are below "
            f"{100 * C.FLOOR:g} % is ",
            Span("at the floor", "b"),
            " (no difference can show there): it is listed but decides nothing and is not counted in the "
            "Bonferroni k; a claim with nothing else to decide is ",
            Span(C.UNINFORMATIVE, "b"),
            ". A comparison whose premise (same ε) is not shown is not used either. An undecided comparison "
            "states its ",
            Span("minimum detectable effect", "b"),
            f" (MDE): the smallest true difference its two-sided test at the claim's level would detect with "
            f"{100 * POWER:g} % power, (t(1 − α/2) + t(power)) · SE with the interval's own SE and degrees of freedom; "
            "and the points per seed (seeds fixed) or seeds (points fixed) at which the MDE would fall to the "
            "observed effect (the point part of the SE scaling as 1/√n, the seed part as 1/√seeds).",
        ),
    )
