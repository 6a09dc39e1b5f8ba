"""Per-method training recipes, the one-cycle schedule, validation without selection, and attacks kept
off the ablation's sweep points: the pieces the default study's training and evaluation budget rest on."""

import copy
import json

import pytest
import torch

from sagr.attack_kinds import suite_for_seed
from sagr.config import ConfigError, load, recipe, stage_settings
from sagr.train import make_optimizer


def test_a_recipe_changes_its_methods_training_settings_only(default_config):
    config = load(copy.deepcopy(default_config))
    mnist = config["datasets"]["mnist"]
    assert mnist["recipes"], "the default study trains the adversarial methods longer"
    for method in config["methods"]:
        settings = json.loads(stage_settings(config, "mnist", "train", method))
        own = mnist["recipes"].get(method, {})
        assert settings["epochs"] == own.get("epochs", mnist["epochs"])
        assert settings["batch_size"] == own.get("batch_size", mnist["batch_size"])
        # everything else is the dataset's, whatever the method
        base = json.loads(stage_settings(config, "mnist", "train"))
        assert {k: v for k, v in settings.items() if k not in own} == {
            k: v for k, v in base.items() if k not in own
        }
    # changing PGD-AT's recipe changes PGD-AT's params (its rerun trigger) and no other method's
    before = {m: stage_settings(config, "mnist", "train", m) for m in config["methods"]}
    mnist["recipes"]["pgd_at"]["epochs"] += 1
    after = {m: stage_settings(config, "mnist", "train", m) for m in config["methods"]}
    assert [m for m in before if before[m] != after[m]] == ["pgd_at"]


def test_a_recipe_optimizer_is_the_recipes_with_schema_defaults_not_a_merge(smoke_config):
    smoke_config["datasets"]["mnist"]["optimizer"] = {"name": "sgd", "lr": 0.1, "momentum": 0.5}
    smoke_config["datasets"]["mnist"]["recipes"] = {"trades": {"optimizer": {"name": "adam", "lr": 0.001}}}
    config = load(smoke_config)
    opt = recipe(config, "mnist", "trades")["optimizer"]
    assert opt["name"] == "adam" and opt["lr"] == 0.001
    assert opt["momentum"] == 0.9  # the schema default, not the dataset's 0.5
    assert recipe(config, "mnist", "standard")["optimizer"]["momentum"] == 0.5


@pytest.mark.parametrize(
    "recipes, where",
    [
        ({"pgd_att": {"epochs": 3}}, "pgd_att"),
        ({"pgd_at": {"epochs": 0}}, "epochs"),
        ({"pgd_at": {"epoch": 3}}, "epoch"),
        ({"pgd_at": {}}, "pgd_at"),
    ],
)
def test_a_bad_recipe_is_refused_naming_it(smoke_config, recipes, where):
    smoke_config["datasets"]["mnist"]["recipes"] = recipes
    with pytest.raises(ConfigError, match=where):
        load(smoke_config)


def test_onecycle_rises_linearly_to_lr_then_falls_to_zero():
    model = torch.nn.Linear(2, 2)
    opt_cfg = {"name": "adam", "lr": 0.01, "weight_decay": 0.0, "schedule": "onecycle", "warmup": 0.4}
    optimizer, scheduler = make_optimizer(model, opt_cfg, epochs=2, steps_per_epoch=50)  # 100 steps
    lrs = []
    for _ in range(100):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[0] == pytest.approx(0.01 / 40)  # first step: 1/40 of the way up
    assert max(lrs) == pytest.approx(0.01) and lrs.index(max(lrs)) == 39  # the peak after 40 % of steps
    assert all(a < b for a, b in zip(lrs[:39], lrs[1:40]))  # strictly rising
    assert all(a > b for a, b in zip(lrs[39:-1], lrs[40:]))  # strictly falling
    assert lrs[-1] == pytest.approx(0.01 / 61)  # the last step still learns
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0)


def test_main_only_attacks_skip_sweep_points_and_nothing_else(default_config):
    attacks = default_config["attacks"]
    main_only = {n for n, s in attacks.items() if s.get("main_only")}
    assert "autoattack_ref" in main_only and "apgd_t" not in main_only
    main = suite_for_seed(attacks, 0, main=True)
    sweep = suite_for_seed(attacks, 0, main=False)
    assert set(main) - set(sweep) == main_only
    assert sweep == [n for n in main if n not in main_only]  # order kept
    # the worst case's cascade (APGD-CE + APGD-T) runs on every sweep point
    assert {"apgd_ce", "apgd_t"} <= set(sweep)


def test_validation_select_last_keeps_the_last_epochs_weights():
    """select last: the weights are exactly those of training without validation (whose RNG it does not
    touch), while the curve is recorded; select best may end on an earlier epoch's weights."""
    from sagr import models
    from sagr.train import Validation, fit

    torch.manual_seed(0)
    x, y = torch.rand(64, 1, 28, 28), torch.randint(0, 10, (64,))
    xv, yv = torch.rand(32, 1, 28, 28), torch.randint(0, 10, (32,))
    opt = {"name": "adam", "lr": 0.01, "weight_decay": 0.0, "schedule": "constant"}

    def train(select_best):
        torch.manual_seed(0)
        model = models.build_model("small_cnn", 10, 1, 28, (0.5,), (0.5,))
        val = None if select_best is None else Validation(xv, yv, 0.3, 2, 0.5, select_best=select_best)
        result = fit(model, x, y, "standard", {}, 3, 16, opt, 0, torch.device("cpu"), False, validation=val)
        return result, [p.detach().clone() for p in model.parameters()]

    plain, last, best = train(None), train(False), train(True)
    assert all(torch.equal(a, b) for a, b in zip(plain[1], last[1]))
    assert [r["epoch"] for r in last[0].val_history] == [1, 2, 3] and last[0].best_epoch == 3
    scores = [(r["pgd_accuracy"], r["clean_accuracy"]) for r in best[0].val_history]
    assert best[0].best_epoch == 1 + scores.index(max(scores))  # first of the ties
