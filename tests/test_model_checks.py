"""AutoAttack's checks on the model (sagr.model_checks): each trips on a model built to trip it, passes
on an ordinary one, is recorded in robustness.json and flags its run in `Results.flagged_runs`."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import fake_results as fr
from conftest import REPO, require_mnist
from sagr import models, results
from sagr.files import read_json, write_json
from sagr.model_checks import (
    CHECK_TITLES,
    MAX_POINTS,
    ModelInTrainingMode,
    check_deterministic,
    check_logits_not_probabilities,
    model_checks,
)
from sagr.robustness.records import ModelCheck, ModelResult

N = 32  # points the unit tests check


def cnn(seed: int = 0) -> nn.Module:
    """The default run's architecture, in eval mode, as the evaluate job gets it."""
    torch.manual_seed(seed)
    return models.build_model("small_cnn", 10, 1, 28, [0.1307], [0.3081]).eval()


def points(n: int = N, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


def by_id(checks: list[ModelCheck]) -> dict[str, ModelCheck]:
    return {c.check: c for c in checks}


class Around(nn.Module):
    """`base` behind an input transform `pre` (may draw noise, cut the graph, ...); in eval mode."""

    def __init__(self, base: nn.Module, pre) -> None:
        super().__init__()
        self.base, self.pre = base, pre
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(self.pre(x))


class NoGrad(nn.Module):
    def __init__(self, base: nn.Module) -> None:
        super().__init__()
        self.base = base
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():  # a defence that hides its forward pass from autograd
            return self.base(x)


def bn_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 26 * 26, 10)
    )


class StickyTraining(nn.Module):
    """A BatchNorm model whose train() ignores eval(): still training when the attacks would start."""

    def __init__(self) -> None:
        super().__init__()
        self.net = bn_model()

    def train(self, mode: bool = True) -> StickyTraining:
        return super().train(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SwitchesToTraining(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = bn_model()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.net.train()  # a forward pass that puts its BatchNorm back into training mode
        return self.net(x)


# ---------------------------------------------------------------------------------- ordinary models


def test_an_ordinary_cnn_passes_every_check_in_order() -> None:
    x, y = points()
    checks = model_checks(cnn(), x, y, "plain")
    assert [c.check for c in checks] == list(CHECK_TITLES)
    assert all(c.passed for c in checks), [c.detail for c in checks]
    assert all(c.n_points == N and c.title == CHECK_TITLES[c.check] for c in checks)
    assert "0 exactly zero, 0 with a non-finite entry" in by_id(checks)["input_gradients"].detail


def test_a_batchnorm_model_in_eval_mode_passes() -> None:
    x, y = points()
    assert all(c.passed for c in model_checks(bn_model().eval(), x, y))


def test_checks_run_on_the_first_max_points_only() -> None:
    x, y = points(MAX_POINTS + 7)
    assert {c.n_points for c in model_checks(cnn(), x, y)} == {MAX_POINTS}


def test_a_confident_model_is_not_flagged_where_cross_entropy_saturates() -> None:
    """DLR is scale-free (the reference checks its gradients): logits ×1e4 saturate the cross-entropy's
    gradient to exactly zero in float32, but the model's gradients are there."""
    model = cnn()
    with torch.no_grad():
        model.net.fc2.weight.mul_(1e4)
        model.net.fc2.bias.mul_(1e4)
    x, y = points()
    xg = x.clone().requires_grad_(True)
    logits = model(xg)
    (ce_grad,) = torch.autograd.grad(F.cross_entropy(logits, logits.argmax(1), reduction="sum"), [xg])
    assert (ce_grad.flatten(1).abs().sum(1) == 0).sum() > N // 2  # the case this test is about
    assert by_id(model_checks(model, x, y))["input_gradients"].passed


# ---------------------------------------------------------------------------------- randomised forward pass


@pytest.mark.parametrize(
    "pre",
    [
        lambda x: x + 1e-3 * torch.randn_like(x),  # additive input noise
        lambda x: F.dropout(x, 0.1, training=True),  # dropout left on at evaluation
    ],
    ids=["noise", "dropout"],
)
def test_a_randomised_model_fails_determinism_only(pre) -> None:
    x, y = points()
    checks = by_id(model_checks(Around(cnn(), pre), x, y, "random"))
    assert not checks["deterministic"].passed
    assert "EOT" in checks["deterministic"].detail
    assert checks["logits_not_probabilities"].passed and checks["input_gradients"].passed


def test_determinism_tolerance_is_the_references_1e_4_on_row_normalised_outputs() -> None:
    torch.manual_seed(3)
    out = torch.randn(8, 10) + 5 * torch.eye(10)[:8]  # clear argmax: counts stay equal
    y = out.argmax(1)
    direction = torch.randn(8, 10)
    direction /= direction.norm(dim=1, keepdim=True)
    scale = out.norm(dim=1, keepdim=True)  # the distance is measured after normalising each row

    def moved(d: float) -> list[torch.Tensor]:
        return [out, out + d * scale * direction, out]

    assert check_deterministic(moved(3e-5), y).passed
    assert not check_deterministic(moved(3e-4), y).passed
    # scale-free: a 1000× larger output with the same relative jitter is judged alike
    assert check_deterministic([o * 1000 for o in moved(3e-5)], y).passed
    assert not check_deterministic([out, out * float("nan"), out], y).passed  # NaN fails, not passes


def test_a_different_number_of_right_points_across_passes_fails_determinism() -> None:
    out = torch.tensor([[2.0, 1.0], [1.0, 2.0]])
    flip = torch.tensor([[1.0, 2.0], [1.0, 2.0]])
    check = check_deterministic([out, flip, out], torch.tensor([0, 1]))
    assert not check.passed and "points right per pass 2, 1, 2" in check.detail


def test_the_checks_leave_the_rng_where_they_found_it() -> None:
    """A randomised model's attacks draw what they would have drawn without the checks."""
    x, y = points()
    model = Around(cnn(), lambda x: x + 1e-3 * torch.randn_like(x))
    state = torch.get_rng_state()
    model_checks(model, x, y)
    assert torch.equal(torch.get_rng_state(), state)


# ---------------------------------------------------------------------------------- probabilities


def test_a_softmax_output_fails_and_log_softmax_or_sigmoid_pass() -> None:
    x, y = points()
    soft = by_id(model_checks(nn.Sequential(cnn(), nn.Softmax(dim=1)).eval(), x, y, "softmax"))
    assert not soft["logits_not_probabilities"].passed
    assert "need logits" in soft["logits_not_probabilities"].detail
    assert soft["deterministic"].passed
    # log-probabilities are logits (shift by a constant per row); sigmoids do not sum to 1 per row
    for head in (nn.LogSoftmax(dim=1), nn.Sigmoid()):
        checks = by_id(model_checks(nn.Sequential(cnn(), head).eval(), x, y))
        assert checks["logits_not_probabilities"].passed, head


def test_probability_detection_needs_every_row_to_sum_to_one_within_1e_5() -> None:
    p = torch.full((4, 10), 0.1)
    assert not check_logits_not_probabilities(p).passed
    assert not check_logits_not_probabilities(p + 5e-7).passed  # rows sum to 1 + 5e-6
    off = p.clone()
    off[2, 0] += 1e-4  # one row off by 1e-4: not a probability output
    assert check_logits_not_probabilities(off).passed
    assert check_logits_not_probabilities(p - 0.2).passed  # below 0


# ---------------------------------------------------------------------------------- input gradients


@pytest.mark.parametrize(
    "wrap",
    [lambda m: Around(m, lambda x: x.detach()), NoGrad],
    ids=["detach", "no_grad"],
)
def test_a_model_that_cuts_the_graph_fails_on_every_point(wrap) -> None:
    x, y = points()
    check = by_id(model_checks(wrap(cnn()), x, y, "stop-gradient"))["input_gradients"]
    assert not check.passed
    assert f"{N} exactly zero, 0 with a non-finite entry" in check.detail


def test_one_point_with_a_zero_gradient_is_enough_to_fail_and_is_counted() -> None:
    x, y = points()
    gated = torch.zeros(N, dtype=torch.bool)
    gated[[3, 11, 20]] = True
    x[:, 0, 0, 0] = gated.float()  # the model reads the gate from the first pixel

    def pre(x: torch.Tensor) -> torch.Tensor:
        return torch.where((x[:, 0, 0, 0] > 0.5).view(-1, 1, 1, 1), x.detach(), x)

    check = by_id(model_checks(Around(cnn(), pre), x, y))["input_gradients"]
    assert not check.passed and re.search(r": 3 exactly zero, 0 with", check.detail)


def test_non_finite_input_gradients_fail() -> None:
    x, y = points()
    x[:5] = 0.0  # d√x/dx is infinite at 0
    check = by_id(model_checks(Around(cnn(), torch.sqrt), x, y))["input_gradients"]
    assert not check.passed and "0 exactly zero, 5 with a non-finite entry" in check.detail


# ---------------------------------------------------------------------------------- training mode


def test_a_batchnorm_model_left_in_training_mode_is_refused_by_name() -> None:
    x, y = points()
    with pytest.raises(ModelInTrainingMode, match=r"model mnist/bn_seed0 is in training mode") as err:
        model_checks(bn_model().train(), x, y, "mnist/bn_seed0")
    assert "1 (BatchNorm2d)" in str(err.value) and "model.eval()" in str(err.value)


def test_a_model_that_eval_does_not_reach_or_that_switches_in_forward_is_refused() -> None:
    x, y = points()
    with pytest.raises(ModelInTrainingMode, match="sticky"):
        model_checks(StickyTraining().eval(), x, y, "sticky")
    switching = SwitchesToTraining().eval()
    assert not switching.net.training  # in eval mode when the checks start ...
    with pytest.raises(ModelInTrainingMode, match="switcher"):
        model_checks(switching, x, y, "switcher")  # ... refused once a forward pass switched it


# ---------------------------------------------------------------------------------- records


def test_model_checks_round_trip_and_an_old_file_has_none() -> None:
    old = {"dataset": "mnist", "run": "r", "n_eval": 4, "records": [], "worst_case": [], "masking": []}
    r = ModelResult.from_json(copy.deepcopy(old))
    assert r.model_checks is None and "model_checks" not in r.to_json()
    x, y = points()
    checks = model_checks(Around(cnn(), lambda x: x + 1e-3 * torch.randn_like(x)), x, y)
    new = ModelResult.from_json({**old, "format_version": 2, "model_checks": [c.to_json() for c in checks]})
    assert new.model_checks == checks
    assert ModelResult.from_json(new.to_json()) == new
    # ran and recorded nothing is not the same as never run
    assert ModelResult.from_json({**old, "model_checks": []}).model_checks == []


def _set_model_checks(root: Path, dataset: str, run: str, checks: list[ModelCheck]) -> None:
    path = root / dataset / run / "robustness.json"
    write_json(path, {**read_json(path), "model_checks": [c.to_json() for c in checks]})


def test_flagged_runs_name_failed_model_and_masking_checks(tmp_path: Path) -> None:
    manifest = fr.write_fake_results(tmp_path, sweep=False)
    files = fr.input_files(tmp_path, manifest)
    masked = fr.run_name(fr.FAILED[1], fr.FAILED[2])  # the fake tree's one failed masking check

    # the fake tree's files predate the model checks: masking checks alone flag a run
    old = results.load(manifest, files)
    assert old.model_checks.empty
    assert old.flagged_runs("mnist") == {masked: [fr.FAILED[3]]}
    assert old.flagged_runs("cifar10") == {}

    x, y = points()
    plain = model_checks(cnn(), x, y)
    noisy = model_checks(Around(cnn(), lambda x: x + 1e-3 * torch.randn_like(x)), x, y)
    cut = model_checks(Around(cnn(), lambda x: x.detach()), x, y)
    _set_model_checks(tmp_path, "mnist", fr.run_name("standard", 0), plain)
    _set_model_checks(tmp_path, "mnist", fr.run_name("pgd_at", 0), noisy)
    _set_model_checks(tmp_path, "mnist", masked, cut)
    _set_model_checks(tmp_path, "cifar10", fr.run_name("pgd_at", 0), noisy)
    res = results.load(manifest, files)
    assert res.flagged_runs("mnist") == {
        fr.run_name("pgd_at", 0): ["deterministic"],
        masked: ["input_gradients", fr.FAILED[3]],  # model checks first
    }
    assert res.flagged_runs("cifar10") == {fr.run_name("pgd_at", 0): ["deterministic"]}
    rows = res.model_checks[res.model_checks["dataset"] == "mnist"]
    assert len(rows) == 3 * len(CHECK_TITLES)
    assert set(rows.loc[rows["status"] == "fail", "check"]) == {"deterministic", "input_gradients"}
    assert "model_checks" in res.tables()


def test_results_built_without_model_checks_flag_nothing() -> None:
    import pandas as pd

    empty = {name: pd.DataFrame() for name in results.TABLES if name != "model_checks"}
    assert results.Results(**empty).flagged_runs("mnist") == {}


# ---------------------------------------------------------------------------------- the evaluate job


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory) -> dict:
    from sagr import evaluation

    mirror = require_mnist()
    config = evaluation.load_config(REPO / "config" / "smoke.yaml")
    config["data"] = {"root": str(tmp_path_factory.mktemp("data")), "mirror": str(mirror)}
    config["datasets"]["mnist"].update(eval_subset=24, eval_batch_size=24, saliency_images=24)
    return config


def test_the_evaluate_job_records_the_model_checks_beside_the_masking_checks(
    tiny_config: dict, tmp_path: Path
) -> None:
    from sagr import evaluation

    noisy = Around(cnn(), lambda x: x + 1e-3 * torch.randn_like(x))
    result = evaluation.evaluate(noisy, "mnist", tiny_config, tmp_path, attacks=["fgsm"], name="noisy")
    saved = ModelResult.from_json(read_json(tmp_path / "robustness.json"))
    assert [c.check for c in saved.model_checks] == list(CHECK_TITLES)
    assert [c.passed for c in saved.model_checks] == [False, True, True]
    assert {c.n_points for c in saved.model_checks} == {24}
    assert result["model_checks"] == [c.to_json() for c in saved.model_checks]
    assert saved.masking  # the masking checks are still there


def test_the_evaluate_job_refuses_a_model_in_training_mode_before_any_attack(
    tiny_config: dict, tmp_path: Path, monkeypatch
) -> None:
    from sagr import evaluation
    from sagr.robustness import runner

    attacked = []
    monkeypatch.setattr(runner, "run_suite", lambda *a, **k: attacked.append(1))
    with pytest.raises(ModelInTrainingMode, match=r"mnist/sticky \(<module>\) is in training mode"):
        evaluation.evaluate(StickyTraining(), "mnist", tiny_config, tmp_path, attacks=["fgsm"], name="sticky")
    assert attacked == [] and not (tmp_path / "robustness.json").exists()
