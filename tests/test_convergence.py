"""The convergence flag: a run still improving at its last epoch is flagged, a flat or merely noisy
one is not, and the report shows every run's validation curve."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sagr import results
from sagr.convergence import convergence, rising
from sagr.files import read_json, write_json
from test_verdicts import _write

VAL_N = 1000


def _history(curves: dict[str, list[tuple[float, float]]]) -> pd.DataFrame:
    rows = []
    for run, points in curves.items():
        for epoch, (clean, pgd) in enumerate(points, start=1):
            rows.append(
                dict(
                    dataset="mnist", run=run, method="pgd_at", seed=0, main=True, epoch=epoch, loss=1.0 / epoch,
                    val_clean=clean, val_pgd=pgd, val_n=VAL_N if not math.isnan(clean) else np.nan,
                )
            )  # fmt: skip
    return pd.DataFrame(rows)


def test_the_flag_fires_on_a_rising_curve_and_not_on_a_flat_or_noisy_one() -> None:
    nan = math.nan
    flags = convergence(
        _history(
            {
                "rising": [(0.90, 0.50), (0.95, 0.70), (0.97, 0.75)],  # clean +2 points, SE 0.54
                "flat": [(0.95, 0.80), (0.98, 0.85), (0.98, 0.85)],
                # +0.3 points clean, SE √(.983·.017/1000) = 0.41 points: noise, not improvement
                "noisy": [(0.95, 0.80), (0.980, 0.850), (0.983, 0.849)],
                "robust_rises": [(0.98, 0.80), (0.98, 0.82), (0.98, 0.86)],  # only PGD rises (+4, SE 1.1)
                "once": [(nan, nan), (nan, nan), (0.98, 0.85)],  # one validated epoch
                "falls": [(0.95, 0.80), (0.98, 0.88), (0.96, 0.84)],
            }
        )
    ).set_index("run")
    assert flags.loc["rising", "still_improving"] and flags.loc["robust_rises", "still_improving"]
    assert not flags.loc["flat", "still_improving"] and not flags.loc["noisy", "still_improving"]
    assert not flags.loc["falls", "still_improving"]
    assert not flags.loc["once", "judged"] and pd.isna(flags.loc["once", "still_improving"])
    r = flags.loc["rising"]
    assert (r["last_epoch"], r["previous_epoch"]) == (3, 2)
    assert r["val_clean_change"] == pytest.approx(0.02) and r["val_clean_se"] == pytest.approx(
        math.sqrt(0.97 * 0.03 / VAL_N)
    )


def test_the_threshold_is_the_last_values_standard_error() -> None:
    se = math.sqrt(0.9 * 0.1 / VAL_N)  # 0.949 points
    assert rising(0.9 - 1.01 * se, 0.9, VAL_N) and not rising(0.9 - 0.99 * se, 0.9, VAL_N)


def _train_json(path: Path, clean: list[float], pgd: list[float]) -> None:
    data = read_json(path)
    data["history"] = [
        {"epoch": e, "loss": 1.0 / e, "ce": 0.9 / e, "reg": 0.1 / e} for e in range(1, len(clean) + 1)
    ]
    data["val_history"] = [
        {"epoch": e, "clean_accuracy": c, "pgd_accuracy": p, "n": VAL_N}
        for e, (c, p) in enumerate(zip(clean, pgd, strict=True), start=1)
    ]
    data["n_val"] = VAL_N
    write_json(path, data)  # with its hash record: the readers verify it


@pytest.fixture(scope="module")
def curve_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], dict]:
    root = tmp_path_factory.mktemp("curves")
    u = np.random.default_rng(0).random(400)
    manifest = []
    for method, clean, pgd in (
        ("standard", [0.97, 0.99, 0.991], [0.0, 0.0, 0.0]),  # +0.1 point, SE 0.3: converged
        ("pgd_at", [0.90, 0.95, 0.97], [0.60, 0.80, 0.88]),  # still rising
    ):
        run = f"{method}-seed0"
        _write(root, "mnist", run, method, 0, {0: 0.98, 0.1: 0.5, 0.3: 0.2}, 0.5, u)
        _train_json(root / "mnist" / run / "train.json", clean, pgd)
        manifest.append(
            dict(dataset="mnist", run=run, method=method, seed=0, hparams={}, main=True, sweeps=[])
        )
    names = {
        "train": "train.json",
        "robustness": "robustness.json",
        "saliency": "saliency.json",
        "correct": "correct.npz",
    }
    return manifest, {k: [root / "mnist" / e["run"] / f for e in manifest] for k, f in names.items()}


def test_results_carry_each_epoch_with_its_validation(curve_files: tuple[list[dict], dict]) -> None:
    h = results.load(*curve_files).history
    pgd = h[h["method"] == "pgd_at"].sort_values("epoch")
    assert list(pgd["epoch"]) == [1, 2, 3] and list(pgd["val_pgd"]) == [0.60, 0.80, 0.88]
    assert list(pgd["loss"]) == pytest.approx([1.0, 0.5, 1 / 3]) and (pgd["val_n"] == VAL_N).all()


def test_report_shows_the_curves_and_names_the_run_still_improving(
    curve_files: tuple[list[dict], dict], tmp_path: Path
) -> None:
    from sagr.report import build_report

    html, tex = tmp_path / "index.html", tmp_path / "report.tex"
    build_report(*curve_files, {}, html, tex, fig_dir=tmp_path / "figures")
    page = html.read_text()
    assert (
        'src="figures/training_mnist.png"' in page and (tmp_path / "figures" / "training_mnist.pdf").is_file()
    )
    assert "1 of 2 judged runs are still improving" in page
    start = page.index('id="training-curves"')
    section = page[start : page.index("</section>", start)]
    assert ">pgd_at-seed0<" in section and ">standard-seed0<" not in section
    assert "88.0 (+8.0 vs SE 1.0)" in section  # PGD 80 → 88 % on 1,000 images: SE √(.88·.12/1000)
    assert "Training curves" in tex.read_text()
