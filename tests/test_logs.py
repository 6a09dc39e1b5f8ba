"""Job logs a person can read: one line per epoch, one per attack x eps, no progress bars off a
terminal, and a failing job's last line names its stage, dataset and run."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

import torch

from conftest import REPO
from sagr import models
from sagr.robustness.runner import run_suite
from sagr.train import train_model


def _tiny_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return models.build_model("small_cnn", 10, 1, 28, [0.5], [0.5])


def _data(n: int = 96) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


def test_one_line_per_epoch_with_loss_terms_accuracy_eps_and_time(caplog, capsys) -> None:
    x, y = _data()
    opt = {"name": "adam", "lr": 1e-3, "weight_decay": 0.0, "schedule": "constant"}
    with caplog.at_level(logging.INFO, logger="sagr"):
        history = train_model(
            _tiny_model(),
            x,
            y,
            "pgd_at",
            {"eps": 0.3, "steps": 1, "alpha_over_eps": 1.0},
            2,
            32,
            opt,
            0,
            torch.device("cpu"),
            progress=True,
            eps_ramp=1.0,
        )
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch ")]
    assert len(lines) == 2
    pattern = (
        r"epoch (\d)/2: loss ([\d.]+) \(ce ([\d.]+), reg ([-\d.e]+)\), "
        r"train acc ([\d.]+) \(n=96\), eps ([\d.]+), ([\d.]+)s"
    )
    for line, row in zip(lines, history):
        m = re.fullmatch(pattern, line)
        assert m, line
        assert int(m.group(1)) == row["epoch"] and abs(float(m.group(2)) - row["loss"]) < 1e-4
        assert 0.0 <= float(m.group(5)) <= 1.0
    # the ramp: eps reaches half the budget after epoch 1 of 2, the full budget after epoch 2
    assert [float(re.search(r"eps ([\d.]+)", l).group(1)) for l in lines] == [0.15, 0.3]
    assert "it/s" not in capsys.readouterr().err  # stderr is not a terminal here: no tqdm frames


def test_one_line_per_attack_and_eps_with_accuracy_n_and_time(caplog) -> None:
    x, y = _data(32)
    suite = {
        "fgsm": {"kind": "fgsm", "budgets": "all"},
        "pgd": {
            "kind": "pgd",
            "steps": 2,
            "alpha_over_eps": 0.5,
            "restarts": 1,
            "random_start": True,
            "budgets": "all",
        },
    }
    with caplog.at_level(logging.INFO, logger="sagr"):
        table = run_suite(_tiny_model().eval(), x, y, suite, [0.1, 0.2], [], 10, 16, 0, "cpu", progress=True)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("attack ")]
    attacked = [r for r in table.records if r.attack != "clean"]
    assert len(lines) == len(attacked) == 4
    for line, rec in zip(lines, attacked):
        m = re.fullmatch(r"attack (\w+) eps=([\d.]+): accuracy ([\d.]+) \(n=(\d+)\) in ([\d.]+)s", line)
        assert m, line
        assert (m.group(1), float(m.group(2)), int(m.group(4))) == (rec.attack, rec.eps, rec.n)
        assert abs(float(m.group(3)) - rec.accuracy) < 1e-4


def test_a_failing_job_names_stage_dataset_and_run_in_its_last_line(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    script = (
        "from sagr import jobs\n"
        f"jobs.redirect_log({str(log)!r}, 'train_model', {{'dataset': 'mnist', 'run': 'standard_seed0'}})\n"
        "raise ValueError('learning rate must be positive\\nsecond line')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], env={"PYTHONPATH": str(REPO / "src")}, capture_output=True, text=True
    )
    assert proc.returncode != 0
    lines = log.read_text().strip().splitlines()
    assert "Traceback" in log.read_text()
    assert lines[-1] == (
        "FAILED train_model (dataset mnist, run standard_seed0): ValueError: learning rate must be positive"
    )
