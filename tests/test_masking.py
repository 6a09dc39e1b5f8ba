"""Tests of the gradient-masking checks: hand-made record tables, and run_suite on plain vs masking models."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn

from sagr.masking import masking_checks, table_masking_checks
from sagr.robustness.runner import run_suite

C, SIDE = 10, 8
D = SIDE * SIDE
IDS = ["monotone_eps", "unbounded_zero", "blackbox_not_stronger", "more_steps_no_gain"]


# ---------------------------------------------------------------------------
# Hand-made per-point results (paired data)
# ---------------------------------------------------------------------------

N = 64


def broken_first(k: int, n: int = N) -> np.ndarray:
    """Per-point results where the first k points are broken (0) and the rest still correct (1)."""
    arr = np.ones(n, np.int8)
    arr[:k] = 0
    return arr


def results(
    arrays: dict[tuple[str, str, str, float], np.ndarray], clean_correct: int = N, n: int = N
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """(records, correct) from {(attack, kind, role, eps): per-point array}; accuracy and n from the arrays."""
    recs = [
        {
            "attack": "clean",
            "kind": "clean",
            "role": "clean",
            "norm": "none",
            "eps": 0.0,
            "accuracy": clean_correct / n,
            "n": n,
            "n_correct": clean_correct,
            "points": "all",
        }
    ]
    correct = {"clean": broken_first(n - clean_correct, n)[::-1].copy()}
    for (attack, kind, role, eps), arr in arrays.items():
        ev = arr != -1
        recs.append(
            {
                "attack": attack,
                "kind": kind,
                "role": role,
                "norm": "l2" if kind == "cw_l2" else "linf",
                "eps": eps,
                "accuracy": float((arr[ev] == 1).mean()),
                "n": int(ev.sum()),
                "n_correct": int((arr == 1).sum()),
                "points": "all" if ev.all() else "subset",
                "params": {"steps": 100, "restarts": 2} if role == "strong" else {"steps": 20, "restarts": 1},
            }
        )
        correct[f"{attack}@{eps:g}"] = arr
    return pd.DataFrame(recs), correct


def verdicts(records: pd.DataFrame, correct, n_classes: int | None = C) -> dict[str, bool | None]:
    """check id -> passed, after checking every result's shape."""
    res = masking_checks(records, correct, n_classes)
    assert [r["check"] for r in res] == IDS
    for r in res:
        assert isinstance(r["title"], str) and isinstance(r["detail"], str) and r["detail"]
        assert r["passed"] in (True, False, None)
        assert {"p_value", "alpha", "n_points"} <= set(r)
    return {r["check"]: r["passed"] for r in res}


def healthy() -> dict:
    """Nested breaks: larger ε and stronger attacks break supersets; Square breaks what PGD breaks, no more."""
    return {
        ("fgsm", "fgsm", "baseline", 0.1): broken_first(10),
        ("fgsm", "fgsm", "baseline", 0.3): broken_first(30),
        ("pgd", "pgd", "baseline", 0.1): broken_first(20),
        ("pgd", "pgd", "baseline", 0.3): broken_first(40),
        ("pgd_strong", "pgd", "strong", 0.3): broken_first(41),
        ("square", "square", "blackbox", 0.3): broken_first(38),
        ("pgd_unbounded", "pgd", "unbounded", 1.0): broken_first(N),
    }


def test_paired_healthy_model_passes_everything():
    assert verdicts(*results(healthy())) == dict.fromkeys(IDS, True)


def test_paired_missing_attacks_or_results_give_none():
    assert verdicts(*results({})) == dict.fromkeys(IDS, None)
    records, correct = results(healthy())
    assert verdicts(records, None) == dict.fromkeys(IDS, None)
    for r in masking_checks(records, None, C):
        assert "correct.npz" in r["detail"]


def test_model_at_chance_is_never_called_masking():
    """A model at chance clean accuracy fails every check's premise: all not applicable, with the reason."""
    arrays = healthy()
    arrays[("square", "square", "blackbox", 0.3)] = broken_first(N)  # would fail check 3 ...
    assert verdicts(*results(arrays))["blackbox_not_stronger"] is False
    res = masking_checks(*results(arrays, clean_correct=7), C)  # ... but 7/64 ≈ 1/C correct clean
    assert all(r["passed"] is None and "chance" in r["detail"] for r in res)


def test_paired_monotone_eps():
    arrays = healthy()
    # PGD at 0.3 leaves 3 points correct that it broke at 0.1: a rise, but one noise explains (p = 1/8).
    arrays[("pgd", "pgd", "baseline", 0.3)] = np.r_[np.ones(3), broken_first(40)[3:]].astype(np.int8)
    assert verdicts(*results(arrays))["monotone_eps"] is True
    # 15 such points and none the other way: significant.
    arrays[("pgd", "pgd", "baseline", 0.3)] = np.r_[np.ones(15), np.zeros(5), np.ones(N - 20)].astype(np.int8)
    res = masking_checks(*results(arrays), C)[0]
    assert res["passed"] is False and "pgd ε 0.1→0.3" in res["detail"] and res["p_value"] < 0.05 / 3


def test_unbounded_zero():
    arrays = healthy()
    arrays[("pgd_unbounded", "pgd", "unbounded", 1.0)] = broken_first(N - 1)
    res = masking_checks(*results(arrays), C)[1]
    assert res["passed"] is False and "1 of 64" in res["detail"]


def test_moderate_masking_fails_paired_check_3():
    """Square breaks the 20 points white-box attacks break plus 10 more (15.6 % of 64 points). Unpaired,
    0.53 vs 0.69 is within two standard errors of a difference (0.17), so the old check passed it."""
    arrays = healthy()
    arrays[("pgd", "pgd", "baseline", 0.3)] = broken_first(20)
    arrays[("fgsm", "fgsm", "baseline", 0.3)] = broken_first(20)
    arrays[("pgd_strong", "pgd", "strong", 0.3)] = broken_first(20)
    arrays[("square", "square", "blackbox", 0.3)] = broken_first(30)
    res = masking_checks(*results(arrays), C)[2]
    assert res["passed"] is False and "10 broken only by square" in res["detail"], res
    assert res["p_value"] == pytest.approx(0.5**10) and res["n_points"] == N
    # Two points more is noise.
    arrays[("square", "square", "blackbox", 0.3)] = broken_first(22)
    assert verdicts(*results(arrays))["blackbox_not_stronger"] is True


def test_check_3_white_box_side_is_the_per_point_union():
    """Square breaks points 0-29; PGD breaks 0-19 and FGSM breaks 20-29: no point is broken only by Square."""
    arrays = healthy()
    arrays[("pgd", "pgd", "baseline", 0.3)] = broken_first(20)
    arrays[("pgd_strong", "pgd", "strong", 0.3)] = broken_first(20)
    arrays[("fgsm", "fgsm", "baseline", 0.3)] = np.r_[np.ones(20), np.zeros(10), np.ones(N - 30)].astype(
        np.int8
    )
    arrays[("square", "square", "blackbox", 0.3)] = broken_first(30)
    assert verdicts(*results(arrays))["blackbox_not_stronger"] is True


def test_paired_more_steps_no_gain():
    arrays = healthy()
    arrays[("pgd_strong", "pgd", "strong", 0.3)] = np.r_[np.ones(12), broken_first(40)[12:]].astype(np.int8)
    res = masking_checks(*results(arrays), C)[3]
    assert res["passed"] is False and "12 broken only by the baseline" in res["detail"]
    assert "steps 20→100" in res["detail"] and "restarts 1→2" in res["detail"]


def test_selection_is_by_role_not_by_name():
    """Renaming every attack keeps every verdict; changing a role changes what a check compares."""
    arrays = healthy()
    arrays[("square", "square", "blackbox", 0.3)] = broken_first(N)  # fails check 3
    base = verdicts(*results(arrays))
    new_name = {"fgsm": "x1", "pgd": "zz", "pgd_strong": "pgd", "square": "pgd_strong", "pgd_unbounded": "sq"}
    renamed = {(new_name[n], k, r, e): a for (n, k, r, e), a in arrays.items()}
    assert verdicts(*results(renamed)) == base and base["blackbox_not_stronger"] is False
    as_strong = {(n, k, "strong" if r == "blackbox" else r, e): a for (n, k, r, e), a in arrays.items()}
    assert verdicts(*results(as_strong))["blackbox_not_stronger"] is None


def test_duplicate_records_rejected():
    records, correct = results(healthy())
    with pytest.raises(ValueError, match="duplicate"):
        masking_checks(pd.concat([records, records.iloc[[1]]]), correct, C)


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
        "pgd": {
            "kind": "pgd",
            "role": "baseline",
            "steps": 20,
            "alpha_over_eps": 0.1,
            "restarts": 1,
            "random_start": True,
            "budgets": "all",
        },
        "pgd_strong": {
            "kind": "pgd",
            "role": "strong",
            "steps": 50,
            "alpha_over_eps": 0.05,
            "restarts": 2,
            "random_start": True,
            "budgets": "all",
        },
        "square": {
            "kind": "square",
            "role": "blackbox",
            "n_queries": 300,
            "p_init": 0.8,
            "n_restarts": 1,
            "loss": "margin",
            "resc_schedule": False,
            "budgets": "all",
            "subset": 200,
        },
        "pgd_unbounded": {
            "kind": "pgd",
            "role": "unbounded",
            "steps": 50,
            "alpha_over_eps": 0.04,
            "restarts": 1,
            "random_start": True,
            "budgets": [1.0],
            "subset": 200,
        },
    }
    suite.update(override)
    return suite


def checks_of(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: list[float], suite: dict
) -> dict[str, dict]:
    """Run the suite and the checks on its outcome table (as the evaluate job does); check id -> result
    dict. The checks of its records read back as a table (as sagr.results reads them) are the same."""
    table = run_suite(model, x, y, suite, eps, [], C, 400, 0, "cpu", progress=False)
    checks = table_masking_checks(table, C)
    records = pd.DataFrame([r.to_json() for r in table.records])
    assert masking_checks(records, table.arrays, C) == checks
    return {r["check"]: r for r in checks}


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
    weak_strong = {
        "kind": "pgd",
        "role": "strong",
        "steps": 10,
        "alpha_over_eps": 0.025,
        "restarts": 1,
        "random_start": True,
        "budgets": "all",
    }
    res = checks_of(model, x, y, [0.08, 0.1], small_suite(pgd_strong=weak_strong))
    assert res["more_steps_no_gain"]["passed"] is False, res["more_steps_no_gain"]
