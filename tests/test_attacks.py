"""Tests of sagr.attacks on a tiny MLP trained for a fraction of a second on synthetic 8×8 data."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn
import yaml

from conftest import REPO, SCHEMA
from sagr.attack_kinds import ATTACK_REGISTRY, ROLES, apgd_strength, evaluation_departures, resolve_budgets
from sagr.attacks import (
    ATTACK_KINDS,
    CWL2,
    build_attack,
    margin_loss,
    validate_suite,
)
from sagr.robustness import OutcomeTable
from sagr.robustness.describe import describe_autoattack
from sagr.robustness.records import outcome_key
from sagr.robustness.runner import run_suite

DEFAULT_SUITE = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["attacks"]

C, SIDE = 10, 8
D = SIDE * SIDE
EPS = 0.1  # PGD accuracy of the fixture model is mid-range here (~0.7)


def make_data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian blobs around fixed class prototypes in [0.2, 0.8]^64, clipped to [0,1], as 1×8×8 images."""
    protos = torch.rand(C, D, generator=torch.Generator().manual_seed(0)) * 0.6 + 0.2
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, C, (n,), generator=g)
    x = (protos[y] + 0.15 * torch.randn(n, D, generator=g)).clamp(0, 1)
    return x.view(n, 1, SIDE, SIDE), y


def train_mlp(x: torch.Tensor, y: torch.Tensor, steps: int = 150) -> nn.Module:
    """A 2-layer MLP trained full-batch with Adam (deterministic)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(D, 64), nn.ReLU(), nn.Linear(64, C))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return net.eval()


@pytest.fixture(scope="module")
def model_data() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """Trained model and 400 held-out points."""
    xtr, ytr = make_data(1000, seed=1)
    model = train_mlp(xtr, ytr)
    x, y = make_data(400, seed=2)
    return model, x, y


def pgd_spec(
    steps: int = 10,
    alpha_over_eps: float = 0.1,
    restarts: int = 1,
    random_start: bool = True,
    kind: str = "pgd",
    budgets="all",
    **extra,
) -> dict:
    """A pgd/cw_inf spec with every key set."""
    return {
        "kind": kind,
        "steps": steps,
        "alpha_over_eps": alpha_over_eps,
        "restarts": restarts,
        "random_start": random_start,
        "budgets": budgets,
        **extra,
    }


def reference_pgd(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float, steps: int
) -> torch.Tensor:
    """Independent plain L∞ PGD on CE from x: sign-gradient step, projection on the ball, clamp to [0,1]."""
    adv = x.clone()
    for _ in range(steps):
        adv.requires_grad_(True)
        loss = nn.functional.cross_entropy(model(adv), y, reduction="sum")
        (g,) = torch.autograd.grad(loss, adv)
        with torch.no_grad():
            adv = adv + alpha * g.sign()
            adv = torch.min(torch.max(adv, x - eps), x + eps).clamp(0, 1)
    return adv.detach()


def test_pgd_agrees_with_reference_pgd(model_data):
    model, x, y = model_data
    suite = {"pgd": pgd_spec(steps=10, alpha_over_eps=0.1, random_start=False, budgets=[EPS])}
    t = run_suite(model, x, y, suite, [EPS], [], C, 128, 0, "cpu", progress=False)
    records = t.records
    ours = next(r for r in records if r.attack == "pgd").accuracy
    adv = reference_pgd(model, x, y, EPS, 0.1 * EPS, 10)
    with torch.no_grad():
        ref = (model(adv).argmax(1) == y).float().mean().item()
    assert 0.2 < ref < 0.95, "fixture should give a mid-range accuracy for a meaningful comparison"
    assert abs(ours - ref) <= 0.01


@pytest.mark.parametrize("kind", ["fgsm", "pgd", "pgd_restarts", "cw_inf", "square", "autoattack", "cw_l2"])
def test_adversarial_examples_in_ball_and_box(model_data, kind):
    model, x, y = model_data
    x, y = x[:100], y[:100]
    spec = {
        "fgsm": {"kind": "fgsm", "budgets": "all"},
        "pgd": pgd_spec(),
        "pgd_restarts": pgd_spec(restarts=3),
        "cw_inf": pgd_spec(kind="cw_inf"),
        "square": {
            "kind": "square",
            "n_queries": 50,
            "p_init": 0.8,
            "n_restarts": 1,
            "loss": "margin",
            "resc_schedule": False,
            "budgets": "largest",
        },
        "autoattack": {
            "kind": "autoattack",
            "version": "standard",
            "n_iter": 3,
            "n_restarts": 1,
            "n_target_classes": 9,
            "n_queries": 30,
            "budgets": "largest",
        },
        "cw_l2": {"kind": "cw_l2", "c": 1.0, "kappa": 0.0, "steps": 20, "lr": 0.01, "budgets": "l2"},
    }[kind]
    torch.manual_seed(0)
    atk = build_attack(spec, model, EPS, C, seed=0)
    adv = atk(x, y)
    assert adv.shape == x.shape and torch.isfinite(adv).all()
    assert adv.min() >= 0 and adv.max() <= 1
    if kind != "cw_l2":
        assert (adv - x).abs().max() <= EPS + 1e-6
    assert not model.training


@pytest.mark.parametrize("kind", ["pgd", "cw_inf"])
def test_restarts_never_raise_accuracy(model_data, kind):
    model, x, y = model_data
    suite = {
        "one": pgd_spec(kind=kind, steps=5, restarts=1, budgets=[EPS]),
        "three": pgd_spec(kind=kind, steps=5, restarts=3, budgets=[EPS]),
    }
    t = run_suite(model, x, y, suite, [EPS], [], C, 400, 0, "cpu", progress=False)
    records, correct = t.records, t.arrays
    one, three = correct[outcome_key("one", EPS)], correct[outcome_key("three", EPS)]
    # Same seed: the first restart repeats the single run, so per example three ⊆ one.
    assert (three <= one).all()
    acc = {r.attack: r.accuracy for r in records}
    assert acc["three"] <= acc["one"]


def test_clean_misclassified_is_wrong_under_every_attack(model_data):
    model, x, y = model_data
    x, y = x[:100], y[:100].clone()
    y[:10] = (y[:10] + 1) % C  # these 10 points are now misclassified clean
    suite = {
        "fgsm": {"kind": "fgsm", "budgets": "all"},
        "pgd": pgd_spec(steps=3),
        "cw_l2": {"kind": "cw_l2", "c": 1.0, "kappa": 0.0, "steps": 5, "lr": 0.01, "budgets": "l2"},
    }
    t = run_suite(model, x, y, suite, [0.01, EPS], [0.01, 1.0], C, 64, 0, "cpu", progress=False)
    records, correct = t.records, t.arrays
    assert (correct["clean"][:10] == 0).all()
    for key, arr in correct.items():
        assert (arr[:10] == 0).all(), key
    assert {r.attack for r in records} == {"clean", "fgsm", "pgd", "cw_l2"}
    assert len(records) == 1 + 2 + 2 + 2


def test_randomised_attack_cannot_fix_clean_errors():
    """A point misclassified clean counts as wrong even where the attack's noise happens to make it right."""

    class Threshold(nn.Module):
        """Predicts class 1 iff the first pixel > 0.5 (a parameter so torchattacks finds the device)."""

        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.tensor(100.0))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            s = self.w * (x.flatten(1)[:, :1] - 0.5)
            return torch.cat([-s, s, torch.zeros_like(s), torch.zeros_like(s) - 50], dim=1)

    model = Threshold()
    x = torch.full((64, 1, 2, 2), 0.49)
    y = torch.ones(64, dtype=torch.long)  # clean prediction is 0: all misclassified
    # A random start in a 0.3-ball puts about half the first pixels above 0.5, i.e. "correct".
    suite = {"noise": pgd_spec(steps=1, alpha_over_eps=1e-9, random_start=True, budgets=[0.3])}
    torch.manual_seed(0)
    noisy = build_attack(suite["noise"], model, 0.3, 4, seed=0)(x, y)
    assert (model(noisy).argmax(1) == y).any(), "the premise: noise alone fixes some points"
    t = run_suite(model, x, y, suite, [0.3], [], 4, 64, 0, "cpu", progress=False)
    correct = t.arrays
    assert (correct["clean"] == 0).all()
    assert (correct[outcome_key("noise", 0.3)] == 0).all()


def test_subset_prefix_marks_rest_unevaluated(model_data):
    model, x, y = model_data
    suite = {"pgd": pgd_spec(steps=3, subset=50), "fgsm": {"kind": "fgsm", "budgets": "largest"}}
    t = run_suite(model, x, y, suite, [0.05, EPS], [], C, 64, 0, "cpu", progress=False)
    records, correct = t.records, t.arrays
    for eps in (0.05, EPS):
        arr = correct[outcome_key("pgd", eps)]
        assert arr.dtype == np.int8 and len(arr) == len(x)
        assert (arr[50:] == -1).all() and set(np.unique(arr[:50])) <= {0, 1}
    assert (correct[outcome_key("fgsm", EPS)] != -1).all()
    ns = {(r.attack, r.eps): r.n for r in records}
    assert ns[("pgd", 0.05)] == 50 and ns[("fgsm", EPS)] == 400 and ns[("clean", 0.0)] == 400
    for r in records:  # robustness.json's record, as the runner's table writes it
        assert set(r.to_json()) == {
            "attack",
            "kind",
            "role",
            "norm",
            "eps",
            "accuracy",
            "n",
            "n_correct",
            "points",
            "params",
            "repr",
            "wall_time_s",
            "cpu_time_s",
        }
    pts = {(r.attack, r.eps): r.points for r in records}
    assert pts[("pgd", 0.05)] == "subset" and pts[("fgsm", EPS)] == "all" and pts[("clean", 0.0)] == "all"
    rec = next(r for r in records if r.attack == "pgd")
    assert rec.norm == "linf" and rec.params["steps"] == 3 and rec.repr.startswith("PGD(")


def test_run_suite_is_deterministic(model_data):
    model, x, y = model_data
    suite = {"pgd": pgd_spec(steps=3, restarts=2, budgets=[EPS], subset=100)}
    a = run_suite(model, x, y, suite, [EPS], [], C, 64, 7, "cpu", progress=False).arrays
    b = run_suite(model, x, y, suite, [EPS], [], C, 64, 7, "cpu", progress=False).arrays
    assert all((a[k] == b[k]).all() for k in a)


def test_cw_l2_budget_threshold(model_data):
    model, x, y = model_data
    suite = {"cw": {"kind": "cw_l2", "c": 1.0, "kappa": 0.0, "steps": 30, "lr": 0.05, "budgets": "l2"}}
    eps_l2 = [0.1, 1.0, 3.0, 1000.0]
    t = run_suite(model, x[:100], y[:100], suite, [EPS], eps_l2, C, 100, 0, "cpu", progress=False)
    records, correct = t.records, t.arrays
    accs = [next(r.accuracy for r in records if r.attack == "cw" and r.eps == e) for e in eps_l2]
    assert accs == sorted(accs, reverse=True) and accs[0] > accs[-1]
    for lo, hi in zip(eps_l2, eps_l2[1:]):  # robust at a larger budget implies robust at a smaller one
        assert (correct[outcome_key("cw", hi)] <= correct[outcome_key("cw", lo)]).all()
    assert all(r.norm == "l2" for r in records if r.attack == "cw")


def test_cw_objective_uses_true_other_logit_with_negative_logits():
    atk = CWL2(nn.Linear(2, 3), c=1.0, kappa=0.0, steps=1, lr=0.01)
    logits = torch.tensor([[-5.0, -1.0, -3.0]])
    # true class 1 (−1) vs best other (−3): margin 2. Upstream torchattacks compares with 0 and returns 0.
    assert atk.f(logits, torch.tensor([1])).item() == pytest.approx(2.0)
    assert margin_loss(logits, torch.tensor([1])).item() == pytest.approx(-2.0)
    assert margin_loss(logits, torch.tensor([0])).item() == pytest.approx(4.0)
    assert torch.isfinite(atk.inverse_tanh_space(torch.tensor([0.0, 1.0]))).all()


def test_worst_case_hand_table():
    # 3 attacks × 5 points at ε=0.1; each attack alone leaves 3/5 robust, together only point 3 survives.
    correct = {
        "clean": np.array([1, 1, 1, 1, 0], np.int8),
        "a@0.1": np.array([0, 1, 1, 1, 0], np.int8),
        "b@0.1": np.array([1, 0, 1, 1, 0], np.int8),
        "c@0.1": np.array([1, 1, 0, 1, 0], np.int8),
        "a@0.2": np.array([1, 0, 1, 1, 0], np.int8),
        "d@0.2": np.array([0, -1, -1, 1, -1], np.int8),  # a cascade attack: skipped the points a broke
        "u@1": np.array([0, 1, -1, -1, -1], np.int8),  # only a 2-point prefix evaluated at ε = 1
        "l2@0.5": np.array([0, 0, 0, 0, 0], np.int8),
    }
    rec = lambda a, e, norm="linf", points="all": {"attack": a, "eps": e, "norm": norm, "points": points}
    records = [
        {"attack": "clean", "eps": 0.0, "norm": "none"},
        rec("a", 0.1),
        rec("b", 0.1),
        rec("c", 0.1),
        rec("a", 0.2),
        rec("d", 0.2, points="cascade"),
        rec("u", 1.0, points="subset"),
        rec("l2", 0.5, "l2"),
    ]
    table = OutcomeTable.from_frame(pd.DataFrame(records), correct)
    out = table.worst_case()
    assert [(w.norm, w.eps) for w, _ in out] == [("l2", 0.5), ("linf", 0.1), ("linf", 0.2), ("linf", 1.0)]
    (l2, _), (w1, _), (w2, arr2), (w3, arr3) = out
    assert w1.accuracy == pytest.approx(1 / 5) and w1.n == 5 and w1.attacks == ["a", "b", "c"]
    assert min(np.mean(correct[k] == 1) for k in ("a@0.1", "b@0.1", "c@0.1")) > w1.accuracy
    # at 0.2 the cascade attack d counts on all 5 points: a broke point 1, d broke point 0.
    assert w2.n == 5 and w2.n_correct == 2 and w2.attacks == ["a", "d"]
    assert arr2.tolist() == [0, 0, 1, 1, 0]
    # at ε = 1 only the prefix the subset attack evaluated counts.
    assert w3.n == 2 and w3.accuracy == 0.5 and arr3.tolist() == [0, 1, -1, -1, -1]
    assert l2.accuracy == 0.0 and "worst_l2@0.5" in table.npz_arrays(np.arange(5))  # correct.npz's key
    assert not any(w.apgd_strength for w, _ in out)  # no APGD in these records


def test_validate_suite_accepts_default_and_names_errors():
    validate_suite(DEFAULT_SUITE)
    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())["attacks"]
    validate_suite(paper)
    assert {s["kind"] for s in paper.values()} == set(ATTACK_KINDS) - {
        "autoattack"
    }  # the composite is for callers

    def bad(mutate) -> str:
        suite = copy.deepcopy(DEFAULT_SUITE)
        mutate(suite)
        with pytest.raises(ValueError) as e:
            validate_suite(suite)
        return str(e.value)

    msg = bad(lambda s: s["pgd_strong"].pop("restarts"))
    assert "pgd_strong" in msg and "restarts" in msg
    msg = bad(lambda s: s.__setitem__("deepfool", {"kind": "deepfool", "budgets": "all"}))
    assert "deepfool" in msg and "unknown kind" in msg
    msg = bad(lambda s: s["square"].__setitem__("n_querys", 10))
    assert "square" in msg and "n_querys" in msg
    msg = bad(lambda s: s["pgd"].__setitem__("steps", 0))
    assert "pgd" in msg and "steps" in msg
    msg = bad(lambda s: s["pgd"].__setitem__("random_start", 1))
    assert "random_start" in msg
    msg = bad(lambda s: s["fgsm"].__setitem__("budgets", "l2"))
    assert "fgsm" in msg and "budgets" in msg
    msg = bad(lambda s: s["cw_l2"].pop("budgets"))
    assert "cw_l2" in msg and "budgets" in msg
    msg = bad(lambda s: s["pgd_strong"].__setitem__("random_start", False))
    assert "pgd_strong" in msg and "restarts" in msg
    msg = bad(lambda s: s["autoattack_ref"].__setitem__("version", "plus"))
    assert "autoattack_ref" in msg and "version" in msg
    msg = bad(lambda s: s["pgd"].__setitem__("role", "strongest"))
    assert "pgd" in msg and "role" in msg
    msg = bad(lambda s: s["apgd_ce"].__setitem__("subset", 10))
    assert "apgd_ce" in msg and "cascade" in msg


def test_autoattack_tiny_not_weaker_than_pgd(model_data):
    model, x, y = model_data
    x, y = x[:200], y[:200]
    aa = {
        "kind": "autoattack",
        "version": "standard",
        "n_iter": 5,
        "n_restarts": 1,
        "n_target_classes": 9,
        "n_queries": 50,
        "budgets": [EPS],
    }
    # Deterministic PGD from x (a random start with steps·α = ε would weaken PGD and make this too easy).
    suite = {"pgd": pgd_spec(steps=10, random_start=False, budgets=[EPS]), "aa": aa}
    t = run_suite(model, x, y, suite, [EPS], [], C, 200, 0, "cpu", progress=False)
    records = t.records
    acc = {r.attack: r.accuracy for r in records}
    assert 0 < acc["pgd"] < 1
    assert acc["aa"] <= acc["pgd"] + 0.02
    rep = next(r.repr for r in records if r.attack == "aa")
    assert "APGD(" in rep and "APGDT(" in rep and "FAB(" in rep and "Square(" in rep and "steps=5" in rep
    atk = build_attack(aa, model, EPS, C, seed=0)
    apgdt, fab, square = atk.attacks[1], atk.attacks[2], atk.attacks[3]
    assert apgdt.n_target_classes == 9 and fab.n_target_classes == 9 and fab.multi_targeted
    assert square.n_queries == 50 and square.rescale_schedule is False and square.p_init == 0.8
    text = describe_autoattack({**aa, "n_iter": 100, "n_target_classes": 9, "n_queries": 5000})
    assert "100 iterations" in text and "5000 queries" in text and "NOT" not in text
    assert "NOT the reference" in describe_autoattack(aa)
    with pytest.raises(ValueError, match="n_target_classes"):
        build_attack({**aa, "n_target_classes": 12}, model, EPS, C, seed=0)


# ---------------------------------------------------------------------------
# Registry, AutoAttack strength at every ε, cascade, reference AutoAttack
# ---------------------------------------------------------------------------


def test_registry_is_the_schema_enum_and_derives_the_tables():
    import sagr.masking as masking
    from sagr.config import schema

    # The schema file names no kind or role: sagr.config fills both enums from the registry.
    raw = yaml.safe_load(SCHEMA.read_text())["$defs"]["attack"]["properties"]
    assert "enum" not in raw["kind"] and "enum" not in raw["role"]
    attack = schema()["$defs"]["attack"]["properties"]
    assert attack["kind"]["enum"] == list(ATTACK_REGISTRY)
    assert attack["role"]["enum"] == list(ROLES)
    assert ATTACK_KINDS == {k: v.params for k, v in ATTACK_REGISTRY.items()}
    assert set(masking.WHITEBOX_KINDS) == {k for k, v in ATTACK_REGISTRY.items() if v.gradient}
    assert "square" not in masking.WHITEBOX_KINDS and "autoattack" not in masking.WHITEBOX_KINDS
    for name, kind in ATTACK_REGISTRY.items():
        assert kind.name == name and kind.default_role.value in ROLES
        module, func = kind.builder.split(":")
        assert callable(getattr(__import__(module, fromlist=[func]), func)), kind.builder


def test_registry_and_validation_import_without_torch():
    """The Snakefile validates attacks at parse time, where torch may be unimportable."""
    import subprocess
    import sys

    # Loaded from its file, so the test does not depend on what sagr/__init__.py imports.
    code = (
        "import sys, yaml, importlib.util; sys.modules['torch'] = None; sys.modules['torchattacks'] = None\n"
        f"spec = importlib.util.spec_from_file_location('attack_kinds', {str(REPO / 'src' / 'sagr' / 'attack_kinds.py')!r})\n"
        "mod = importlib.util.module_from_spec(spec); sys.modules['attack_kinds'] = mod; spec.loader.exec_module(mod)\n"
        f"mod.validate_suite(yaml.safe_load(open({str(REPO / 'config' / 'config.yaml')!r}))['attacks'])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("name", ["config.yaml", "paper.yaml"])
def test_every_eps_of_every_dataset_gets_autoattack_strength(name):
    """Each L∞ ε of each dataset: APGD-CE and APGD-T (≥ 100 iterations) on every point; the largest ε: full
    standard AutoAttack (APGD-CE, APGD-T, FAB-T, Square) in the cascade and the reference beside it."""
    cfg = yaml.safe_load((REPO / "config" / name).read_text())
    for dataset, d in cfg["datasets"].items():
        at = lambda eps, d=d: [
            s
            for s in cfg["attacks"].values()
            if ATTACK_REGISTRY[s["kind"]].norm.value == "linf"
            and eps in resolve_budgets(s, d["eps"], d.get("eps_l2", []))
        ]
        for eps in d["eps"]:
            assert apgd_strength(at(eps)), (name, dataset, eps)
            assert not apgd_strength([s for s in at(eps) if s["kind"] not in ("apgd_t", "autoattack_ref")])
        top = at(max(d["eps"]))
        # full standard AutoAttack at the largest ε: in the cascade, or (default budget) the reference's
        ref = [
            s
            for s in top
            if s["kind"] == "autoattack_ref"
            and s.get("cascade")
            and s["n_iter"] >= 100
            and s["n_target_classes"] == 9
            and s["n_queries"] == 5000
        ]
        assert ref, (name, dataset)
        if name == "config.yaml":
            deps = " ".join(evaluation_departures(cfg))
            assert "FAB-T and Square run only inside the reference" in deps and "APGD-T" in deps
        if name == "paper.yaml":  # full standard AutoAttack at every ε
            for eps in d["eps"]:
                assert {s["kind"] for s in at(eps) if s.get("cascade")} >= {
                    "apgd_ce",
                    "apgd_t",
                    "fab_t",
                    "square",
                }


def test_cascade_gives_the_same_worst_case_as_every_attack_on_every_point(model_data):
    """Deterministic attacks (no random start), so a point's outcome does not depend on its batch."""
    model, x, y = model_data
    x, y = x[:200], y[:200]
    base = {
        "fgsm": {"kind": "fgsm", "budgets": "all"},
        "pgd": pgd_spec(steps=5, alpha_over_eps=0.25, random_start=False),
        "cw": pgd_spec(kind="cw_inf", steps=10, alpha_over_eps=0.15, random_start=False),
        "pgd_long": pgd_spec(steps=30, alpha_over_eps=0.05, random_start=False, budgets="largest"),
    }
    every = {k: dict(v) for k, v in base.items()}
    cascade = {"fgsm": base["fgsm"], **{k: {**v, "cascade": True} for k, v in base.items() if k != "fgsm"}}
    eps = [0.05, EPS]
    ta = run_suite(model, x, y, every, eps, [], C, 64, 0, "cpu", progress=False)
    tb = run_suite(model, x, y, cascade, eps, [], C, 64, 0, "cpu", progress=False)
    wa, wb = ta.worst_case(), tb.worst_case()
    assert [(w.eps, w.n, w.n_correct) for w, _ in wa] == [(w.eps, w.n, w.n_correct) for w, _ in wb]
    assert all((a == b).all() for (_, a), (_, b) in zip(wa, wb, strict=True))
    assert all(w.n == len(x) for w, _ in wb)
    assert 0 < wb[-1][0].accuracy < min(r.accuracy for r in ta.records if r.eps == EPS)
    casc = [r for r in tb.records if r.attack in ("pgd", "cw", "pgd_long")]
    assert all(r.points == "cascade" and r.n < len(x) for r in casc)
    # a cascade attack skipped exactly the points broken before it (or wrong clean)
    cor_b = tb.arrays
    alive = (cor_b["clean"] == 1) & (cor_b[outcome_key("fgsm", EPS)] == 1)
    assert ((cor_b[outcome_key("pgd", EPS)] != -1) == alive).all()


def test_worst_case_has_apgd_strength_only_with_apgd_ce_and_apgd_t(model_data):
    model, x, y = model_data
    x, y = x[:64], y[:64]
    apgd = lambda kind, n_iter, **kw: {
        "kind": kind,
        "cascade": True,
        "n_iter": n_iter,
        "n_restarts": 1,
        "rho": 0.75,
        "eot_iter": 1,
        "budgets": "all",
        **kw,
    }
    suite = {
        "fgsm": {"kind": "fgsm", "budgets": "all"},
        "apgd_ce": apgd("apgd_ce", 100),
        "apgd_t": apgd("apgd_t", 100, n_target_classes=9),
    }
    t = run_suite(model, x, y, suite, [0.05, EPS], [], C, 64, 0, "cpu", progress=False)
    records = t.records
    worst = [w for w, _ in t.worst_case()]
    assert [w.apgd_strength for w in worst] == [True, True]
    fgsm = {r.eps: r.accuracy for r in records if r.attack == "fgsm"}
    assert all(w.accuracy <= fgsm[w.eps] for w in worst) and worst[1].accuracy < fgsm[EPS]
    weak = {**suite, "apgd_t": apgd("apgd_t", 10, n_target_classes=9)}
    t = run_suite(model, x, y, weak, [EPS], [], C, 64, 0, "cpu", progress=False)
    assert t.worst_case()[0][0].apgd_strength is False


def test_reference_autoattack_beside_torchattacks_on_the_same_points(model_data):
    model, x, y = model_data
    x, y = x[:100], y[:100]
    small = {"n_iter": 10, "n_restarts": 1}
    suite = {
        "pgd": pgd_spec(steps=3, budgets=[EPS]),
        "apgd_ce": {
            "kind": "apgd_ce",
            "cascade": True,
            **small,
            "rho": 0.75,
            "eot_iter": 1,
            "budgets": [EPS],
        },
        "apgd_t": {
            "kind": "apgd_t",
            "cascade": True,
            **small,
            "n_target_classes": 9,
            "rho": 0.75,
            "eot_iter": 1,
            "budgets": [EPS],
        },
        "fab_t": {
            "kind": "fab_t",
            "cascade": True,
            **small,
            "n_target_classes": 9,
            "alpha_max": 0.1,
            "eta": 1.05,
            "beta": 0.9,
            "budgets": [EPS],
        },
        "square_aa": {
            "kind": "square",
            "role": "strong",
            "cascade": True,
            "n_queries": 50,
            "p_init": 0.8,
            "n_restarts": 1,
            "loss": "margin",
            "resc_schedule": False,
            "budgets": [EPS],
        },
        "ref": {
            "kind": "autoattack_ref",
            "cascade": True,
            "version": "standard",
            **small,
            "n_target_classes": 9,
            "n_queries": 50,
            "budgets": [EPS],
        },
    }
    t = run_suite(model, x, y, suite, [EPS], [], C, 100, 0, "cpu", progress=False)
    records, correct = t.records, t.arrays
    by = {r.attack: r for r in records}
    assert by["ref"].role == "reference" and by["ref"].repr.startswith("ReferenceAutoAttack")
    cmp = t.reference_comparison()
    pool = (correct["clean"] == 1) & (correct[outcome_key("pgd", EPS)] == 1)
    assert cmp.n == by["ref"].n == by["apgd_ce"].n == int(pool.sum()) > 20
    assert cmp.torchattacks_attacks == ["apgd_ce", "apgd_t", "fab_t", "square_aa"]
    assert cmp.accuracy < 0.9 and cmp.torchattacks_accuracy < 0.9  # both break some of what PGD-3 left
    assert cmp.differs is False, cmp  # the same algorithms on the same points
    ((worst, _),) = t.worst_case()
    assert worst.n_correct <= min(cmp.n_correct, cmp.torchattacks_n_correct)


def test_reference_comparison_flags_a_real_difference():
    n = 40
    rec = lambda a, role, points="cascade": {
        "attack": a,
        "kind": "apgd_ce",
        "role": role,
        "norm": "linf",
        "eps": 0.3,
        "points": points,
    }
    ta = np.ones(n, np.int8)
    ta[:5] = 0
    ref_same, ref_more = ta.copy(), ta.copy()
    ref_more[5:17] = 0  # the reference breaks 12 points torchattacks left
    for ref, differs in ((ref_same, False), (ref_more, True)):
        correct = {"clean": np.ones(n, np.int8), "ta@0.3": ta, "ref@0.3": ref}
        records = pd.DataFrame([rec("ref", "reference"), rec("ta", "strong")])
        out = OutcomeTable.from_frame(records, correct).reference_comparison()
        assert out.differs is differs and out.n == n
        if differs:
            assert out.only_reference_broke == 12 and out.mcnemar_p == pytest.approx(2 * 0.5**12)
    assert (
        OutcomeTable.from_frame(pd.DataFrame(), {"clean": np.ones(3, np.int8)}).reference_comparison() is None
    )


def test_an_attack_restricted_to_seeds_runs_only_on_those_models_and_the_departures_say_so(default_config):
    from sagr.attack_kinds import suite_for_seed
    from sagr.config import load

    attacks = default_config["attacks"]
    restricted = [n for n, s in attacks.items() if "seeds" in s]
    assert restricted, "the default run restricts a costly cross-check to some seeds"
    for seed in default_config["seeds"]:
        names = suite_for_seed(attacks, seed)
        assert names == [n for n in attacks if n in names]  # config order kept
        for name in restricted:
            assert (name in names) == (seed in attacks[name]["seeds"])
        assert set(attacks) - set(restricted) <= set(names)  # everything else runs on every model
    deps = " ".join(evaluation_departures(load(copy.deepcopy(default_config))))
    assert all(f"{name} (" in deps for name in restricted) and "runs on the models of seed 0 only" in deps
    bad = copy.deepcopy(default_config)
    bad["attacks"][restricted[0]]["seeds"] = [0, 7]
    with pytest.raises(ValueError, match=rf"attacks\.{restricted[0]}\.seeds: \[7\] train no model"):
        load(bad)
    bad["attacks"][restricted[0]]["seeds"] = [0, 0]
    with pytest.raises(ValueError, match="seeds"):
        load(bad)
