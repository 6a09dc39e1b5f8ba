"""Checkpoint and resume: an interrupted run continues to the very weights of an uninterrupted one."""

import json
import os
import signal
import subprocess
import time

import pytest
import torch
import yaml

from conftest import REPO, mirror_dir, require_mnist, snakemake_cmd
from sagr import checkpoint as ck
from sagr.models import build_model
from sagr.runs import encode_run
from sagr.train import CheckpointPolicy, Validation, fit

SGD = {
    "name": "sgd",
    "lr": 0.05,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "schedule": "multistep",
    "milestones": [1.5],
    "gamma": 0.1,
}
PGD = {"eps": 8 / 255, "steps": 2, "alpha_over_eps": 0.5}


class Interrupted(Exception):
    pass


def data():
    g = torch.Generator().manual_seed(0)
    return torch.rand(96, 3, 32, 32, generator=g), torch.randint(0, 10, (96,), generator=g)


def run(checkpoint=None, stop_after_steps=None, epochs=3):
    """fit() on PreActResNet-18 (tiny width, BatchNorm) with every RNG consumer on: PGD starts, crop+flip, validation."""
    x, y = data()
    torch.manual_seed(0)
    model = build_model("preact_resnet18_tiny", 10, 3, 32, (0.5,) * 3, (0.25,) * 3)
    objective_calls = [0]
    if stop_after_steps is not None:
        real_step = torch.optim.SGD.step

        def step(self, *a, **k):
            objective_calls[0] += 1
            if objective_calls[0] > stop_after_steps:
                raise Interrupted
            return real_step(self, *a, **k)

        torch.optim.SGD.step = step
    try:
        result = fit(
            model,
            x[16:],
            y[16:],
            "pgd_at",
            PGD,
            epochs,
            20,
            SGD,
            0,
            torch.device("cpu"),
            False,
            augment=("crop", "flip"),
            validation=Validation(x[:16], y[:16], 8 / 255, 2, 0.5),
            checkpoint=checkpoint,
        )
    finally:
        if stop_after_steps is not None:
            torch.optim.SGD.step = real_step
    return model, result


def strip_times(history):
    return [{k: v for k, v in h.items() if k != "time_s"} for h in history]


def assert_same_training(a, b):
    (ma, ra), (mb, rb) = a, b
    for (name, ta), tb in zip(ma.state_dict().items(), mb.state_dict().values()):
        assert torch.equal(ta, tb), name
    assert strip_times(ra.history) == strip_times(rb.history)
    assert ra.val_history == rb.val_history and ra.best_epoch == rb.best_epoch


@pytest.fixture(scope="module")
def uninterrupted():
    return run()


@pytest.mark.parametrize("every_minutes, stop", [(None, 7), (1e-9, 6)], ids=["epoch-boundary", "mid-epoch"])
def test_resume_after_interruption_is_bit_identical(tmp_path, uninterrupted, every_minutes, stop):
    policy = CheckpointPolicy(tmp_path / "train.pt", {"run": "r"}, every_minutes=every_minutes)
    with pytest.raises(Interrupted):
        run(policy, stop_after_steps=stop)  # 4 steps per epoch: dies in epoch 2
    saved = ck.read_checkpoint(policy.path)
    assert (saved["epoch"], saved["step"]) == ((2, 0) if every_minutes is None else (2, 2))
    t0 = time.perf_counter()
    resumed = run(policy)
    this_attempt = time.perf_counter() - t0
    assert resumed[1].resumed_from == [{"epoch": saved["epoch"], "step": saved["step"]}]
    assert_same_training(resumed, uninterrupted)
    # Training time counts the interrupted attempt up to its checkpoint, not only the last attempt.
    assert (
        0 < saved["elapsed_s"]
        and saved["elapsed_s"] < resumed[1].elapsed_s <= saved["elapsed_s"] + this_attempt
    )


def test_checkpoints_do_not_change_training(tmp_path, uninterrupted):
    assert_same_training(run(CheckpointPolicy(tmp_path / "train.pt", {"run": "r"})), uninterrupted)


def test_corrupt_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, uninterrupted, caplog):
    policy = CheckpointPolicy(tmp_path / "train.pt", {"run": "r"})
    with pytest.raises(Interrupted):
        run(policy, stop_after_steps=9)  # checkpoints after epochs 1 and 2
    blob = bytearray(policy.path.read_bytes())
    blob[-100] ^= 0xFF  # one flipped byte in the newest
    policy.path.write_bytes(bytes(blob))
    with caplog.at_level("INFO", logger="sagr"):
        resumed = run(policy)
    assert "corrupt" in caplog.text and "checksum" in caplog.text
    # The resume line names the generation actually read, not the newest file's name.
    assert f"resumed from checkpoint {ck.previous_path(policy.path)} at epoch 2, step 0" in caplog.text
    assert resumed[1].resumed_from == [{"epoch": 2, "step": 0}]  # the previous generation, not scratch
    assert_same_training(resumed, uninterrupted)


def test_all_checkpoints_corrupt_is_an_error_not_a_silent_restart(tmp_path):
    policy = CheckpointPolicy(tmp_path / "train.pt", {"run": "r"})
    with pytest.raises(Interrupted):
        run(policy, stop_after_steps=9)
    for p in (policy.path, ck.previous_path(policy.path)):
        p.write_bytes(p.read_bytes()[:1000])  # truncated
    with pytest.raises(ck.CheckpointError, match="every checkpoint of this run is corrupt"):
        run(policy)


def test_checkpoint_of_another_run_is_refused_naming_both(tmp_path):
    ck.write_checkpoint(
        tmp_path / "train.pt", {"identity": {"arch": "wrn34_10", "run": "r"}, "epoch": 2, "step": 0}
    )
    policy = CheckpointPolicy(tmp_path / "train.pt", {"arch": "preact_resnet18_tiny", "run": "r"})
    with pytest.raises(ck.CheckpointError) as err:
        run(policy)
    assert "arch=wrn34_10" in str(err.value) and "arch=preact_resnet18_tiny" in str(err.value)


def test_a_resumed_attempt_keeps_the_interrupted_attempts_log(tmp_path, capsys):
    """Snakemake deletes a job's log when it reruns it: the interrupted attempt's lines are kept
    beside the checkpoint and start the next attempt's log."""
    import logging

    from sagr.jobs import _keep_attempt_logs

    path = tmp_path / "ckpt" / "train.pt"
    first = _keep_attempt_logs(path)
    logging.getLogger("sagr").warning("epoch 1/4 of the attempt that gets killed")
    logging.getLogger().removeHandler(first)  # the process dies here
    first.close()
    capsys.readouterr()
    second = _keep_attempt_logs(path)
    logging.getLogger().removeHandler(second)
    second.close()
    err = capsys.readouterr().err
    assert err.startswith(
        f"--- earlier attempts of this job, interrupted (kept in {ck.attempts_log(path)}) ---"
    )
    assert "epoch 1/4 of the attempt that gets killed" in err and err.endswith("--- this attempt ---\n")
    ck.write_checkpoint(path, {"identity": {}, "epoch": 1, "step": 0})
    ck.remove(path)  # the finished run's checkpoint goes, its attempts' log with it
    assert not path.parent.exists()


def test_remove_deletes_every_generation(tmp_path):
    path = tmp_path / "d" / "train.pt"
    for epoch in (1, 2):
        ck.write_checkpoint(path, {"identity": {}, "epoch": epoch, "step": 0})
    assert ck.previous_path(path).exists() and ck.read_checkpoint(path)["epoch"] == 2
    ck.remove(path)
    assert not path.parent.exists()


# ----------------------------------------------------------------------------- kill -9 for real


def _kill_config(tmp_path):
    config = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    d = config["datasets"]["mnist"]
    d.update(
        train_subset=640,
        epochs=4,
        augment=["crop"],
        crop_padding=2,
        validation={"n": 64, "pgd_steps": 2, "pgd_alpha_over_eps": 0.5},
    )
    config["methods"] = {"pgd_at": config["methods"]["pgd_at"]}
    config["ablation"] = {}
    path = tmp_path / "kill.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, encode_run("pgd_at", config["methods"]["pgd_at"], 0)


def _snakemake(workdir, configfile, target, **popen):
    cmd = snakemake_cmd(
        "-d",
        str(workdir),
        "--configfile",
        str(configfile),
        "--cores",
        "1",
        "--rerun-incomplete",
        target,
    )
    env = {**os.environ, "SAGR_DATA_MIRROR": str(mirror_dir())}
    return subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen
    )


def _weights(path):
    return torch.load(path, weights_only=True)["state_dict"]


@pytest.mark.slow
def test_sigkill_mid_training_then_rerun_gives_the_uninterrupted_result(tmp_path):
    require_mnist()
    configfile, run_name = _kill_config(tmp_path)
    target = f"results/mnist/{run_name}/train.json"
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    proc = _snakemake(clean, configfile, target)
    assert proc.wait(1800) == 0, proc.stdout.read()[-3000:]

    ckpt = killed / "checkpoints" / "mnist" / run_name / "train.pt"
    proc = _snakemake(killed, configfile, target, start_new_session=True)
    deadline = time.monotonic() + 1800
    while not ckpt.exists():  # the first epoch's checkpoint: the job is now in epoch 2 of 4
        assert proc.poll() is None and time.monotonic() < deadline, "training ended before it could be killed"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # snakemake and its training job, no chance to clean up
    proc.wait()
    assert not (killed / target).exists()
    epoch_at_kill = ck.read_checkpoint(ckpt)["epoch"]
    assert epoch_at_kill <= 4

    # Killing snakemake itself leaves its lock behind: unlock, then rerun the same command, as a user would.
    assert _snakemake(killed, configfile, "--unlock").wait(300) == 0
    proc = _snakemake(killed, configfile, target)
    out = proc.communicate(timeout=1800)[0]
    assert proc.returncode == 0, out[-3000:]
    a = json.loads((clean / target).read_text())
    b = json.loads((killed / target).read_text())
    assert b["resumed_from"] and b["resumed_from"][0]["epoch"] >= 2 and "resumed_from" not in a
    for key in ("test_accuracy", "val_history", "best_epoch", "n_train", "n_val"):
        assert a[key] == b[key], key
    assert strip_times(a["history"]) == strip_times(b["history"])
    wa, wb = (
        _weights(clean / f"results/mnist/{run_name}/model.pt"),
        _weights(killed / f"results/mnist/{run_name}/model.pt"),
    )
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not ckpt.parent.exists()  # keep: false removes the finished run's checkpoint
    # The interrupted attempt counts in the training time and its log lines survive the rerun.
    assert b["train_wall_time_s"] >= sum(h["time_s"] for h in b["history"])
    log = (killed / "logs" / "mnist" / run_name / "train.log").read_text()
    earlier, _, this = log.partition("--- this attempt ---")
    assert "earlier attempts of this job, interrupted" in earlier and "epoch 1/4" in earlier
    assert f"resumed from checkpoint checkpoints/mnist/{run_name}/train" in this
