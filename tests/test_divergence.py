"""Divergence is an error, not a result (sagr.divergence and the train/evaluate/saliency jobs)."""

import math

from sagr import jobs
from sagr.config import attack_suite, execution, job_settings, load, schema
from sagr.divergence import DIVERGED, diverged_record
from sagr.divergence import divergence_reason as _reason
from sagr.files import read_json, read_npz, write_json
from sagr.job_records import TrainRecord
from sagr.runs import encode_run

LN10 = math.log(10)
# The thresholds a config gets when it sets none: the schema's defaults.
SCHEMA_DEFAULTS = {k: v["default"] for k, v in schema()["properties"]["divergence"]["properties"].items()}


def divergence_reason(*args, **thresholds):
    return _reason(*args, **{**SCHEMA_DEFAULTS, **thresholds})


def hist(*losses):
    return [{"epoch": i + 1, "loss": loss} for i, loss in enumerate(losses)]


def test_a_run_that_learns_is_not_diverged():
    assert divergence_reason(hist(2.0, 0.9, 0.5), LN10, 0.8, 10, "mnist run") is None


def test_chance_training_accuracy_is_divergence_naming_dataset_run_and_epoch():
    reason = divergence_reason(hist(2.31, 2.30, 2.30), LN10, 0.1, 10, "mnist jr-lam1e+08-seed0")
    assert reason.startswith(
        "mnist jr-lam1e+08-seed0: final training accuracy 0.1000 after epoch 3 is at or below chance"
    )


def test_below_chance_and_margin():
    assert divergence_reason(hist(2.0), LN10, 0.039, 10, "x") is not None
    assert divergence_reason(hist(2.0), LN10, 0.12, 10, "x") is None
    assert divergence_reason(hist(2.0), LN10, 0.12, 10, "x", chance_margin=0.05) is not None


def test_loss_explosion_relative_to_the_start_names_the_epoch():
    reason = divergence_reason(hist(2.0, 1.5, 9.35e6), LN10, 0.5, 10, "mnist sagr-seed0")
    assert "loss exploded at epoch 3" in reason and "mnist sagr-seed0" in reason
    # a loss that starts large (a heavy regulariser) is judged against its own start, not ln C
    assert divergence_reason(hist(5e3, 4e3), LN10, 0.9, 10, "x") is None
    assert divergence_reason(hist(2.0, 150.0), LN10, 0.9, 10, "x", max_loss_ratio=100) is None
    assert divergence_reason(hist(2.0, 250.0), LN10, 0.9, 10, "x", max_loss_ratio=100) is not None
    assert "exploded at epoch 2" in divergence_reason(hist(2.0, float("nan")), LN10, 0.9, 10, "x")


def test_evaluation_of_a_diverged_model_writes_a_record_not_numbers(tmp_path, smoke_config):
    run = encode_run("jr", smoke_config["methods"]["jr"], 0)
    run_dir = tmp_path / "results" / "mnist" / run
    run_dir.mkdir(parents=True)
    ident = {"dataset": "mnist", "run": run, "method": "jr", "seed": 0, "hparams": {}}
    write_json(
        run_dir / "train.json", {**ident, "status": DIVERGED, "diverged_reason": "mnist jr-seed0: boom"}
    )
    (run_dir / "model.pt").write_bytes(b"never read: the run diverged")
    config = load(smoke_config)
    rec = jobs.evaluate_job(
        job_settings(config, "mnist", "evaluate", suite=attack_suite(config, ["pgd"])),
        execution(config),
        "mnist",
        run,
        run_dir / "model.pt",
        tmp_path / "robustness.json",
        tmp_path / "correct.npz",
    )
    assert (
        rec["status"] == DIVERGED
        and rec["records"] == []
        and rec["worst_case"] == []
        and rec["masking"] == []
    )
    assert read_json(tmp_path / "robustness.json")["diverged_reason"] == "mnist jr-seed0: boom"
    assert read_npz(tmp_path / "correct.npz")["indices"].size == 0
    sal = jobs.saliency_job(
        job_settings(config, "mnist", "saliency"),
        execution(config),
        "mnist",
        run,
        run_dir / "model.pt",
        tmp_path / "saliency.json",
        tmp_path / "maps.npz",
    )
    assert sal["status"] == DIVERGED and sal["metrics"] == {}


def test_diverged_record_only_for_diverged_runs():
    ident = {"dataset": "mnist", "run": "standard_seed0", "method": "standard", "seed": 0}
    assert diverged_record(TrainRecord.from_json({**ident, "status": "ok"})) is None
    assert diverged_record(TrainRecord.from_json(ident)) is None  # a file from before the status was judged
    diverged = TrainRecord.from_json({**ident, "status": DIVERGED, "diverged_reason": "r"})
    assert diverged_record(diverged)["diverged_reason"] == "r"
