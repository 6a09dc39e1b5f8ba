"""Tests of the gradient-masking checks: hand-made record tables, and run_suite on plain vs masking models."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn

from sagr.attacks import run_suite
from sagr.masking import masking_checks

C, SIDE = 10, 8
D = SIDE * SIDE
IDS = ["monotone_eps", "unbounded_zero", "blackbox_not_stronger", "more_steps_no_gain"]


# ---------------------------------------------------------------------------
# Hand-made record tables
# ---------------------------------------------------------------------------


def table(rows: list[tuple]) -> pd.DataFrame:
    """Records from (attack, kind, eps, accuracy, n) tuples; kind cw_l2 gets norm l2, clean gets none."""
    out = [{"attack": "clean", "kind": "clean", "norm": "none", "eps": 0.0, "accuracy": 0.95, "n": 1000}]
    for attack, kind, eps, acc, n in rows:
        out.append({"attack": attack, "kind": kind, "norm": "l2" if kind == "cw_l2" else "linf", "eps": eps,
                    "accuracy": acc, "n": n})
    return pd.DataFrame(out)


def verdicts(df: pd.DataFrame) -> dict[str, bool | None]:
    """check id -> passed."""
    res = masking_checks(df)
    assert [r["check"] for r in res] == IDS
    for r in res:
        assert isinstance(r["title"], str) and isinstance(r["detail"], str) and r["detail"]
        assert r["passed"] in (True, False, None)
    return {r["check"]: r["passed"] for r in res}


HEALTHY = [
    ("fgsm", "fgsm", 0.1, 0.80, 1000), ("fgsm", "fgsm", 0.2, 0.60, 1000), ("fgsm", "fgsm", 0.3, 0.40, 1000),
    ("pgd", "pgd", 0.1, 0.70, 1000), ("pgd", "pgd", 0.2, 0.40, 1000), ("pgd", "pgd", 0.3, 0.10, 1000),
    ("pgd_strong", "pgd", 0.1, 0.69, 1000), ("pgd_strong", "pgd", 0.2, 0.385, 1000),
    ("pgd_strong", "pgd", 0.3, 0.09, 1000),
    ("cw_inf", "cw_inf", 0.1, 0.71, 1000), ("cw_inf", "cw_inf", 0.2, 0.41, 1000), ("cw_inf", "cw_inf", 0.3, 0.12, 1000),
    ("cw_l2", "cw_l2", 1.0, 0.5, 1000), ("cw_l2", "cw_l2", 2.0, 0.2, 1000),
    ("autoattack", "autoattack", 0.3, 0.08, 200), ("square", "square", 0.3, 0.11, 200),
    ("pgd_unbounded", "pgd", 1.0, 0.0, 200),
]


def replace(rows: list[tuple], attack: str, eps: float, acc: float) -> list[tuple]:
    """rows with the accuracy of (attack, eps) changed."""
    return [(a, k, e, acc if (a, e) == (attack, eps) else p, n) for a, k, e, p, n in rows]


def test_tables_healthy_model_passes_everything():
    assert verdicts(table(HEALTHY)) == dict.fromkeys(IDS, True)


def test_tables_missing_attacks_give_none():
    assert verdicts(table([])) == dict.fromkeys(IDS, None)
    only_fgsm_one_eps = [("fgsm", "fgsm", 0.1, 0.8, 1000), ("cw_l2", "cw_l2", 1.0, 0.5, 1000),
                         ("cw_l2", "cw_l2", 2.0, 0.6, 1000)]  # L2 rows are ignored by every check
    assert verdicts(table(only_fgsm_one_eps)) == dict.fromkeys(IDS, None)
    # Square at an ε where no white-box attack ran, pgd_strong without pgd.
    rows = [("square", "square", 0.3, 0.1, 200), ("pgd", "pgd", 0.1, 0.5, 1000),
            ("pgd_strong", "pgd", 0.2, 0.4, 1000)]
    v = verdicts(table(rows))
    assert v["blackbox_not_stronger"] is None and v["more_steps_no_gain"] is None


def test_table_monotone_eps():
    # A rise of 0.01 on n=1000 at p≈0.4 (SE ≈ 0.0155) is noise; a rise of 0.05 is not.
    assert verdicts(table(replace(HEALTHY, "pgd", 0.3, 0.41)))["monotone_eps"] is True
    v = masking_checks(table(replace(HEALTHY, "pgd", 0.3, 0.45)))[0]
    assert v["passed"] is False and "pgd" in v["detail"] and "0.3" in v["detail"]
    # Non-adjacent rise: 0.6 at 0.2 then 0.62 at 0.3 is fine, but 0.85 > 0.80 at 0.1 is compared too.
    assert verdicts(table(replace(HEALTHY, "fgsm", 0.3, 0.85)))["monotone_eps"] is False
    # With few points the 1/n floor applies: one point more out of 20 passes, three do not.
    small = [("pgd", "pgd", 0.1, 0.0, 20), ("pgd", "pgd", 0.2, 0.05, 20)]
    assert verdicts(table(small))["monotone_eps"] is True
    small = [("pgd", "pgd", 0.1, 0.0, 20), ("pgd", "pgd", 0.2, 0.15, 20)]
    assert verdicts(table(small))["monotone_eps"] is False


def test_table_unbounded_zero():
    v = masking_checks(table(replace(HEALTHY, "pgd_unbounded", 1.0, 0.005)))[1]
    assert v["passed"] is False and "1 of 200" in v["detail"]
    # Any attack at ε = 1 reaching 0 is enough (the strongest is what matters).
    rows = HEALTHY + [("fgsm", "fgsm", 1.0, 0.3, 200)]
    assert verdicts(table(rows))["unbounded_zero"] is True


def test_table_blackbox_not_stronger():
    # White-box best at 0.3 is pgd_strong 0.09 on 1000 points; Square on 200 points.
    assert verdicts(table(replace(HEALTHY, "square", 0.3, 0.06)))["blackbox_not_stronger"] is True  # 0.03 < 2 SE
    v = masking_checks(table(replace(HEALTHY, "square", 0.3, 0.01)))[2]
    assert v["passed"] is False and "square" in v["detail"] and "pgd_strong" in v["detail"]
    # AutoAttack (which contains Square) does not count as the white-box reference.
    rows = replace(replace(HEALTHY, "square", 0.3, 0.01), "autoattack", 0.3, 0.0)
    assert verdicts(table(rows))["blackbox_not_stronger"] is False


def test_table_more_steps_no_gain():
    assert verdicts(table(replace(HEALTHY, "pgd_strong", 0.2, 0.41)))["more_steps_no_gain"] is True
    v = masking_checks(table(replace(HEALTHY, "pgd_strong", 0.2, 0.47)))[3]
    assert v["passed"] is False and "0.2" in v["detail"]


def test_duplicate_records_rejected():
    df = table(HEALTHY + [("pgd", "pgd", 0.1, 0.7, 1000)])
    with pytest.raises(ValueError, match="duplicate"):
        masking_checks(df)


# ---------------------------------------------------------------------------
# Through run_suite: a plain model passes, gradient-masking models fail
# ---------------------------------------------------------------------------


def make_data(n: int, seed: int, noise: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Blobs around fixed class prototypes, clipped to [0.25, 0.75] (so x ± 0.25 never hits the [0,1] box)."""
    protos = torch.rand(C, D, generator=torch.Generator().manual_seed(0)) * 0.5 + 0.25
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, C, (n,), generator=g)
    x = (protos[y] + noise * torch.randn(n, D, generator=g)).clamp(0.25, 0.75)
    return x.view(n, 1, SIDE, SIDE), y


class Quantise(nn.Module):
    """round(x·k)/k: torch.round has zero derivative, so every input gradient is exactly 0 (shattered gradients)."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.round(x * self.k) / self.k


class Periodic(nn.Module):
    """cos(2πkx): a perturbation of ±1/k per pixel is invisible, so single-step attacks overshoot."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cos(2 * math.pi * self.k * x)


def trained(front: nn.Module, noise: float) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """front → 2-layer MLP trained for 150 full-batch Adam steps; returns (model, 400 test x, y)."""
    xtr, ytr = make_data(1000, 1, noise)
    torch.manual_seed(0)
    net = nn.Sequential(front, nn.Flatten(), nn.Linear(D, 64), nn.ReLU(), nn.Linear(64, C))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        nn.functional.cross_entropy(net(xtr), ytr).backward()
        opt.step()
    x, y = make_data(400, 2, noise)
    return net.eval(), x, y


def small_suite(**override: dict) -> dict:
    """A fast suite with every attack the four checks need."""
    suite = {
        "fgsm": {"kind": "fgsm", "budgets": "all"},
        "pgd": {"kind": "pgd", "steps": 20, "alpha_over_eps": 0.1, "restarts": 1, "random_start": True,
                "budgets": "all"},
        "pgd_strong": {"kind": "pgd", "steps": 50, "alpha_over_eps": 0.05, "restarts": 2, "random_start": True,
                       "budgets": "all"},
        "square": {"kind": "square", "n_queries": 300, "p_init": 0.8, "n_restarts": 1, "loss": "margin",
                   "resc_schedule": False, "budgets": "all", "subset": 200},
        "pgd_unbounded": {"kind": "pgd", "steps": 50, "alpha_over_eps": 0.04, "restarts": 1, "random_start": True,
                          "budgets": [1.0], "subset": 200},
    }
    suite.update(override)
    return suite


def checks_of(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: list[float], suite: dict) -> dict[str, dict]:
    """Run the suite and the checks; check id -> result dict."""
    records, _ = run_suite(model, x, y, suite, eps, [], C, 400, 0, "cpu", progress=False)
    return {r["check"]: r for r in masking_checks(pd.DataFrame(records))}


def test_plain_model_passes_all_checks():
    model, x, y = trained(nn.Identity(), noise=0.1)
    res = checks_of(model, x, y, [0.04, 0.08, 0.1, 0.25], small_suite())
    assert {k: r["passed"] for k, r in res.items()} == dict.fromkeys(IDS, True), res


def test_quantised_model_fails_unbounded_and_blackbox_checks():
    """Zero input gradients: PGD only gets its random start, so ε = 1 leaves points correct and Square wins."""
    model, x, y = trained(Quantise(4), noise=0.1)
    res = checks_of(model, x, y, [0.125, 0.25], small_suite())
    assert res["unbounded_zero"]["passed"] is False, res["unbounded_zero"]
    assert res["blackbox_not_stronger"]["passed"] is False, res["blackbox_not_stronger"]


def test_periodic_model_fails_monotone_check():
    """FGSM at ε = 1/(2k) flips every cos feature, at ε = 1/k it changes nothing: accuracy rises with ε."""
    model, x, y = trained(Periodic(4), noise=0.03)
    res = checks_of(model, x, y, [0.125, 0.25], small_suite())
    assert res["monotone_eps"]["passed"] is False and "fgsm" in res["monotone_eps"]["detail"]


def test_unconverged_strong_pgd_fails_more_steps_check():
    """Check 4 through run_suite. No fast masking model made more steps/restarts *hurt* (masking hurts both
    PGD runs alike), so this uses the plain model with a "strong" PGD whose steps·α = 0.25ε cannot leave
    the neighbourhood of its random start: the check must flag it as weaker than the 20-step PGD."""
    model, x, y = trained(nn.Identity(), noise=0.1)
    weak_strong = {"kind": "pgd", "steps": 10, "alpha_over_eps": 0.025, "restarts": 1, "random_start": True,
                   "budgets": "all"}
    res = checks_of(model, x, y, [0.08, 0.1], small_suite(pgd_strong=weak_strong))
    assert res["more_steps_no_gain"]["passed"] is False, res["more_steps_no_gain"]


def test_subset_attacks_are_compared_on_the_points_they_share():
    """Square on a 4-point prefix must be compared with PGD on those 4 points, not on all 8."""
    records = pd.DataFrame([
        {"attack": "pgd", "kind": "pgd", "norm": "linf", "eps": 0.3, "accuracy": 0.5, "n": 8},
        {"attack": "square", "kind": "square", "norm": "linf", "eps": 0.3, "accuracy": 0.0, "n": 4},
    ])
    correct = {"pgd@0.3": np.array([0, 0, 0, 0, 1, 1, 1, 1], dtype=np.int8),
               "square@0.3": np.array([0, 0, 0, 0, -1, -1, -1, -1], dtype=np.int8)}
    by_check = lambda checks: {c["check"]: c for c in checks}
    # On aggregate numbers Square (0 %) looks far stronger than PGD (50 %) ...
    assert by_check(masking_checks(records))["blackbox_not_stronger"]["passed"] is False
    # ... but on the same four points both reach 0 %: no sign of masking.
    paired = by_check(masking_checks(records, correct))["blackbox_not_stronger"]
    assert paired["passed"] is True and "pgd 0.000 (n=4)" in paired["detail"]
