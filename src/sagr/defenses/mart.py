"""MART (Wang et al., ICLR 2020): misclassification-aware adversarial training.

    L = BCE(p(x'), y) + β · KL(p(x) ‖ p(x')) · (1 − p_y(x))
    BCE(p, y) = −log p_y − log(1 − max_{k≠y} p_k)

on PGD examples x' of the cross-entropy, as the reference code (github.com/YisenWang/MART,
``mart_loss``) computes it, its numerical guards included. Read at Snakefile parse time: torch is
imported inside the objective.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..registry import HParam, Method, register
from .common import on_pgd_examples

BETA_MART = HParam(
    "beta_mart", "bm", float, "MART weight of the misclassification-aware KL term", {"minimum": 0}
)


def mart(model, x, y, hp: Mapping[str, Any]):
    """Boosted CE on PGD examples + β·KL(p(x) ‖ p(x'))·(1 − p_y(x)), means over the batch."""
    import torch
    import torch.nn.functional as F

    from ..methods import LossTerms, pgd_examples

    x_adv = pgd_examples(model, x, y, hp)
    p_nat = F.softmax(model(x), dim=1)
    logits_adv = model(x_adv)
    p_adv = F.softmax(logits_adv, dim=1)
    # The most likely wrong class under attack: the margin the boosted CE pushes down.
    top2 = torch.argsort(p_adv, dim=1)[:, -2:]
    wrong = torch.where(top2[:, -1] == y, top2[:, -2], top2[:, -1])
    bce = F.cross_entropy(logits_adv, y) + F.nll_loss(torch.log(1.0001 - p_adv + 1e-12), wrong)
    kl = F.kl_div(torch.log(p_adv + 1e-12), p_nat, reduction="none").sum(1)
    true_prob = p_nat.gather(1, y[:, None]).squeeze(1)
    reg = (kl * (1.0000001 - true_prob)).mean()
    return LossTerms(bce + hp["beta_mart"] * reg, bce.item(), reg.item())


register(
    Method(
        "mart",
        "MART",
        "sagr.defenses.mart:mart",
        rank=30,
        **on_pgd_examples(BETA_MART),
        summary="Wang et al.: boosted CE on PGD examples + beta KL(p(x) || p(x')) (1 - p_y(x))",
        departure=(
            "MART's inner maximisation is PGD-AT's (torchattacks.PGD on cross-entropy from a uniform "
            "random start in the ε-ball); the reference code starts from x + 0.001·N(0, I)."
        ),
    )
)
