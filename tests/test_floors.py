"""Quality floors (sagr.floors): a model below its published grade is marked, one above it passes."""

import pandas as pd

from sagr.floors import floor_checks, main_accuracies, whole_split_clean
from sagr.labels import CLEAN, WORST


def row(method, attack, eps, mean, low, high):
    """One row of a robustness summary (500 points, 3 seeds)."""
    return dict(dataset="mnist", method=method, attack=attack, eps=eps, mean=mean, ci_low=low,
                ci_high=high, n=500, seeds=3)  # fmt: skip


def test_floors_pass_fail_and_not_run_against_the_measured_means():
    config = {
        "datasets": {
            "mnist": {
                "floors": [
                    {"method": "standard", "clean": 0.99},
                    {"method": "pgd_at", "clean": 0.975, "worst": 0.80, "eps": 0.3},
                    {"method": "trades", "worst": 0.80, "eps": 0.3},
                ]
            }
        }
    }

    summary = pd.DataFrame(
        [
            row("standard", CLEAN, float("nan"), 0.991, 0.98, 0.997),
            row("pgd_at", CLEAN, float("nan"), 0.9747, 0.96, 0.98),
            row("pgd_at", WORST, 0.3, 0.867, 0.83, 0.89),
            row("pgd_at", WORST, 0.2, 0.5, 0.4, 0.6),
        ]
    )
    records = pd.DataFrame(
        [
            dict(
                dataset="mnist",
                method="pgd_at",
                seed=s,
                attack=CLEAN,
                eps=float("nan"),
                accuracy=a,
                main=True,
            )
            for s, a in enumerate([0.972, 0.975, 0.977])
        ]
        + [
            dict(
                dataset="mnist",
                method="pgd_at",
                seed=9,
                attack=CLEAN,
                eps=float("nan"),
                accuracy=0.1,
                main=False,
            )
        ]
    )
    worst = pd.DataFrame(
        [
            dict(dataset="mnist", method="pgd_at", seed=s, eps=0.3, accuracy=a, main=True)
            for s, a in enumerate([0.86, 0.87, 0.871])
        ]
    )
    out = floor_checks(
        {d: c["floors"] for d, c in config["datasets"].items()}, summary, main_accuracies(records, worst)
    ).set_index(["method", "measure"])
    assert out.loc[("standard", "clean"), "status"] == "pass"
    # 97.47 % < 97.5 %: missed by a hair is a fail
    assert out.loc[("pgd_at", "clean"), "status"] == "fail"
    assert out.loc[("pgd_at", "clean"), "seed_min"] == 0.972  # the sweep-only seed 9 is not a main run
    # the floor reads the worst case at its own ε (0.3), not another ε's 50 %
    assert out.loc[("pgd_at", "worst"), "status"] == "pass" and out.loc[("pgd_at", "worst"), "mean"] == 0.867
    assert out.loc[("pgd_at", "worst"), "seed_min"] == 0.86
    assert out.loc[("trades", "worst"), "status"] == "not run"


def test_a_clean_floor_is_checked_on_the_whole_test_split_where_the_training_record_has_it():
    """The evaluation subset says 97.47 % (fail), the 10,000-image test split 98.2 % (pass): the clean
    floor follows the test split, with its n and an interval from its counts; the robustness floor
    stays on the evaluated points; a method without test-split accuracy keeps the subset's."""
    config = {"datasets": {"mnist": {"floors": [{"method": "pgd_at", "clean": 0.975, "worst": 0.8, "eps": 0.3},
                                                {"method": "standard", "clean": 0.99}]}}}  # fmt: skip
    summary = pd.DataFrame(
        [
            row("pgd_at", CLEAN, float("nan"), 0.9747, 0.96, 0.98),
            row("pgd_at", WORST, 0.3, 0.85, 0.83, 0.87),
            row("standard", CLEAN, float("nan"), 0.985, 0.97, 0.99),
        ]
    )

    def trained(seed, accuracy, main):
        return dict(dataset="mnist", method="pgd_at", run=f"pgd_at_seed{seed}", seed=seed, main=main,
                    test_accuracy=accuracy, n_test=10000)  # fmt: skip

    training = pd.DataFrame(
        [trained(s, a, True) for s, a in enumerate([0.9826, 0.9825, 0.9815])] + [trained(9, 0.5, False)]
    )
    whole = whole_split_clean(training)
    assert len(whole) == 3 and set(whole["n"]) == {10000}
    out = floor_checks(
        {d: c["floors"] for d, c in config["datasets"].items()}, summary, pd.DataFrame(), whole
    ).set_index(["method", "measure"])
    clean = out.loc[("pgd_at", "clean")]
    assert clean["status"] == "pass" and clean["points"] == "test split" and clean["n"] == 10000
    assert abs(clean["mean"] - (0.9826 + 0.9825 + 0.9815) / 3) < 1e-12
    assert clean["seed_min"] == 0.9815  # the non-main run's 50 % is not a seed of the main runs
    # the Clopper–Pearson interval of ~9822/10000 is about ±0.27 points, far narrower than the subset's
    assert clean["ci_low"] > 0.978 and clean["ci_high"] < 0.986
    assert (
        out.loc[("pgd_at", "worst"), "points"] == "evaluation points"
        and out.loc[("pgd_at", "worst"), "mean"] == 0.85
    )
    assert out.loc[("standard", "clean"), "points"] == "evaluation points"
    assert out.loc[("standard", "clean"), "status"] == "fail"


def test_a_floor_without_results_is_never_called_met(tmp_path):
    import fake_results as fr
    from sagr.report import build_report

    root = tmp_path / "results"
    manifest = fr.write_fake_results(root, sweep=False)
    floors = {"mnist": [{"method": "trades", "clean": 0.9, "source": "a model these results do not have"}]}
    settings = {**fr.fake_config(), "floors": floors}
    build_report(
        manifest, fr.input_files(root, manifest), settings, tmp_path / "index.html", tmp_path / "r.tex"
    )
    page = (tmp_path / "index.html").read_text()
    floors_html = page[page.index('id="floors"') : page.index("</section>", page.index('id="floors"'))]
    assert "not run" in floors_html and "Every floor is met" not in floors_html
    assert "1 of 1 floor(s) not checked" in floors_html
