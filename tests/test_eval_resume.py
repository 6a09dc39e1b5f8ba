"""An interrupted evaluation resumes from its last finished attack × ε and ends with the files of an
uninterrupted one, repeating at most the step that was running."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

import sagr.attacks
from conftest import REPO, smoke_config_on_mnist
from sagr.robustness.resume import SavedSteps, evaluation_key
from sagr.robustness.runner import run_suite

SUITE = {
    "fgsm": {"kind": "fgsm", "budgets": "all"},
    "pgd": {"kind": "pgd", "steps": 2, "alpha_over_eps": 0.5, "restarts": 1, "random_start": True, "budgets": "all"},
    "cw_l2": {"kind": "cw_l2", "c": 1.0, "kappa": 0.0, "steps": 3, "lr": 0.05, "budgets": "l2"},
    "apgd_ce": {"kind": "apgd_ce", "cascade": True, "n_iter": 3, "n_restarts": 1, "rho": 0.75, "eot_iter": 1, "budgets": "all"},
}  # fmt: skip
# The plan's steps: one C&W run for both L2 budgets, then fgsm, pgd, apgd_ce (the cascade) at each L∞ ε.
STEPS = 7
REAL_RUN_ATTACK = sagr.attacks.run_attack


class Killed(Exception):
    pass


@pytest.fixture(scope="module")
def tiny():
    """A tiny MLP trained for a moment on 8×8 blobs, and 24 points it mostly gets right."""
    g = torch.Generator().manual_seed(0)
    protos = torch.rand(4, 64, generator=g) * 0.6 + 0.2
    y = torch.randint(0, 4, (224,), generator=g)
    x = (protos[y] + 0.15 * torch.randn(224, 64, generator=g)).clamp(0, 1).view(-1, 1, 8, 8)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 4))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x[24:]), y[24:]).backward()
        opt.step()
    return net.eval(), x[:24], y[:24]


def suite_run(model, x, y, saved=None):
    return run_suite(model, x, y, SUITE, [0.05, 0.15], [0.5, 1.0], 4, 16, 3, "cpu", False, saved)


def count_attacks(monkeypatch, stop_after=None):
    """Every attack run (name, ε) from now on; the run after ``stop_after`` of them raises Killed."""
    calls, real = [], REAL_RUN_ATTACK

    def counted(atk, model, x, y, batch_size, device, eps, name):
        if stop_after is not None and len(calls) == stop_after:
            raise Killed
        calls.append((name, eps))
        return real(atk, model, x, y, batch_size, device, eps, name)

    monkeypatch.setattr(sagr.attacks, "run_attack", counted)
    return calls


def untimed(table):
    return [{k: v for k, v in r.to_json().items() if not k.endswith("_time_s")} for r in table.records]


def test_an_interrupted_suite_resumes_at_the_step_it_was_running(tiny, tmp_path, monkeypatch):
    model, x, y = tiny
    every = count_attacks(monkeypatch)
    whole = suite_run(model, x, y)
    assert len(every) == STEPS and 0 < whole.clean.sum() and (whole.arrays["apgd_ce@0.15"] != -1).any()

    key, path = "k", tmp_path / "evaluate.pt"
    first = count_attacks(monkeypatch, stop_after=4)
    with pytest.raises(Killed):
        suite_run(model, x, y, SavedSteps(path, key))
    again = count_attacks(monkeypatch)
    saved = SavedSteps(path, key)
    assert len(saved.steps) == 4 and first == every[:4]
    resumed = suite_run(model, x, y, saved)
    assert again == every[4:]  # the finished steps (the cascade's pool among them) are not rerun
    assert resumed.arrays.keys() == whole.arrays.keys()
    assert all(np.array_equal(resumed.arrays[k], whole.arrays[k]) for k in whole.arrays)
    assert untimed(resumed) == untimed(whole)
    saved.remove()
    assert not path.exists()


def test_state_of_another_model_settings_or_points_is_discarded(tiny, tmp_path, monkeypatch, caplog):
    model, x, y = tiny
    idx = np.arange(len(x))
    settings = {"eps": [0.05], "suite": [[k, v] for k, v in SUITE.items()]}
    key = evaluation_key(model, settings, x, y, idx)
    assert key == evaluation_key(model, json.loads(json.dumps(settings)), x.clone(), y, idx.copy())
    other = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 4))
    other.load_state_dict(model.state_dict())
    with torch.no_grad():
        other[1].bias[0] += 1e-6
    assert evaluation_key(other, settings, x, y, idx) != key
    assert evaluation_key(model, {**settings, "eps": [0.06]}, x, y, idx) != key
    assert evaluation_key(model, settings, x, y, idx[::-1].copy()) != key
    assert evaluation_key(model, settings, x.flip(0), y, idx) != key

    path = tmp_path / "evaluate.pt"
    count_attacks(monkeypatch, stop_after=2)
    with pytest.raises(Killed):
        suite_run(model, x, y, SavedSteps(path, key))
    with caplog.at_level("INFO", logger="sagr"):
        assert SavedSteps(path, evaluation_key(other, settings, x, y, idx)).steps == []
    assert "of another model, settings or points; not used" in caplog.text and not path.exists()


# ----------------------------------------------------------------------------- kill -9 for real

# The evaluate rule's script, with each step run noted (and slowed, to be killed inside one).
DRIVER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    import sagr.robustness.runner as runner
    from sagr import jobs

    job, calls, pause = json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]), float(sys.argv[3])
    real = runner._attack

    def counted(step, *args):
        with open(calls, "a") as fh:
            fh.write(f"{step.attack}@{step.eps}\\n")
        time.sleep(pause)
        return real(step, *args)

    runner._attack = counted
    jobs.redirect_log(job["log"], "evaluate_model")
    jobs.evaluate_job(job["settings"], job["execution"], "mnist", job["run"], Path(job["model"]),
                      Path(job["json"]), Path(job["npz"]))
    """
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from sagr import jobs
    from sagr.config import attack_suite, execution, job_settings
    from sagr.runs import encode_run

    config = smoke_config_on_mnist(tmp_path_factory)
    config["datasets"]["mnist"].update(eval_subset=32, eval_batch_size=32)
    config["checkpoint"]["dir"] = str(tmp_path_factory.mktemp("train_checkpoints"))
    run = encode_run("standard", {}, 0)
    out = tmp_path_factory.mktemp("run")
    jobs.train_job(
        job_settings(config, "mnist", "train", "standard"),
        execution(config),
        "mnist",
        run,
        out / "model.pt",
        out / "train.json",
    )
    settings = job_settings(config, "mnist", "evaluate", suite=attack_suite(config, list(SUITE)))
    return config, settings, run, out / "model.pt"


def _evaluate(trained, where: Path, pause: float) -> subprocess.Popen:
    from sagr.config import execution

    config, settings, run, model = trained
    ex = execution(config)
    ex["checkpoint"] = {**ex["checkpoint"], "dir": str(where / "checkpoints")}
    job = {"settings": settings, "execution": ex, "run": run, "model": str(model), "log": str(where / "log")}
    job |= {"json": str(where / "robustness.json"), "npz": str(where / "correct.npz")}
    where.mkdir(exist_ok=True)
    (where / "job.json").write_text(json.dumps(job))
    (where / "driver.py").write_text(DRIVER)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.Popen(
        [sys.executable, str(where / "driver.py"), str(where / "job.json"), str(where / "calls"), str(pause)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _calls(where: Path) -> list[str]:
    return (where / "calls").read_text().splitlines()


def _untimed(path: Path) -> dict:
    rec = json.loads(path.read_text())
    del rec["provenance"]  # when and how long the job ran
    for r in rec["records"]:
        r.pop("wall_time_s"), r.pop("cpu_time_s")
    return rec


@pytest.mark.slow
def test_sigkill_mid_evaluation_then_rerun_gives_the_uninterrupted_files(trained, tmp_path):
    _, _, run, _ = trained
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    proc = _evaluate(trained, clean, 0)
    assert proc.wait(1800) == 0, proc.stdout.read()[-3000:]
    every = _calls(clean)
    assert len(every) == STEPS
    assert not (clean / "checkpoints").exists() or not any((clean / "checkpoints").rglob("*"))

    state = killed / "checkpoints" / "mnist" / run / "evaluate.pt"
    proc = _evaluate(trained, killed, 1.0)  # a second inside each attack: time to kill it there
    deadline = time.monotonic() + 1800
    while not state.exists():  # the first step is saved: the job is now in its second
        assert proc.poll() is None and time.monotonic() < deadline, "evaluation ended before it was killed"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "robustness.json").exists()
    before = _calls(killed)
    (killed / "calls").unlink()

    proc = _evaluate(trained, killed, 0)
    assert proc.wait(1800) == 0, proc.stdout.read()[-3000:]
    loaded = (killed / "log").read_text().count("taken from an interrupted attempt")
    assert 1 <= loaded < STEPS
    assert _calls(killed) == every[loaded:]  # nothing finished is rerun ...
    assert before in (every[:loaded], every[: loaded + 1])  # ... and only the killed step repeats
    assert (killed / "correct.npz").read_bytes() == (clean / "correct.npz").read_bytes()
    assert _untimed(killed / "robustness.json") == _untimed(clean / "robustness.json")
    assert not state.exists() and not state.parent.exists()  # finished: the state is gone
