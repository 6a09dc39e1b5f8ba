"""The λ trade-off: the rule picks the right λ, one curve is read at another's clean accuracy as computed
by hand, and the
sweep is scored alike for every method (constructed result files with known accuracies)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sagr import claims as C
from sagr import figures, results
from sagr import tradeoff as T
from sagr.labels import CLEAN
from test_verdicts import _write

N = 400


def _clean(table: dict[str, dict[float, float]]) -> pd.DataFrame:
    return pd.DataFrame([dict(method=m, lam=lam, clean=c) for m, d in table.items() for lam, c in d.items()])


def test_the_rule_picks_the_largest_lambda_within_the_allowed_drop() -> None:
    clean = _clean(
        {
            "igr": {1.0: 0.992, 3.0: 0.985, 10.0: 0.979, 30.0: 0.95},  # 0.979 is 1.1 points below 0.99
            "jr": {0.03: 0.99, 0.1: 0.98, 0.3: 0.97, 1.0: 0.9},  # 0.98: exactly 1 point below counts
            "sagr": {0.03: 0.99, 0.1: 0.97, 0.3: 0.981, 1.0: 0.9},  # not monotone: the largest λ wins
            "bad": {0.1: 0.97, 1.0: 0.96},  # none within: no λ, not the best miss
        }
    )
    chosen = T.lam_rule(clean, reference=0.99, max_clean_drop=0.01)
    assert chosen["igr"] == 3.0 and chosen["jr"] == 0.1 and chosen["sagr"] == 0.3
    assert math.isnan(chosen["bad"])
    assert T.lam_rule(clean, reference=0.99, max_clean_drop=0.02)["igr"] == 10.0


def test_a_curve_is_read_at_a_clean_accuracy_by_linear_interpolation_between_its_neighbours() -> None:
    curve = [("l0.03", 0.99), ("l0.1", 0.9825), ("l0.3", 0.97), ("l1", 0.90)]  # in the order of λ
    (r1, w1), (r2, w2) = T.interpolate(curve, 0.985)
    # 0.985 lies a third of the way from 0.99 to 0.9825... from the far end: w = 0.005 / 0.0075 = 2/3
    assert (r1, r2) == ("l0.03", "l0.1") and w2 == pytest.approx(2 / 3) and w1 == pytest.approx(1 / 3)
    (r1, w1), (r2, w2) = T.interpolate(curve, 0.95)
    assert (r1, r2) == ("l0.3", "l1") and w2 == pytest.approx(2 / 7)
    assert T.interpolate(curve, 0.97) == (("l0.3", 1.0),)  # on a point: that model alone
    assert T.interpolate(curve, 0.995) is None and T.interpolate(curve, 0.85) is None  # never extrapolated
    # a curve that turns back: the first segment in λ order that holds the value
    bent = [("a", 0.99), ("b", 0.97), ("c", 0.98)]
    (r1, _), (r2, w) = T.interpolate(bent, 0.975)
    assert (r1, r2) == ("a", "b") and w == pytest.approx(0.75)


# ---------------------------------------------------------------- from result files

# clean, worst case at ε = 0.1 and 0.3, per (method, λ); Standard at 0.99 clean; every value a
# multiple of 1/400 so that the evenly spaced points give it exactly
SWEEP = {
    "jr": {
        0.03: (0.985, 0.50, 0.20),
        0.1: (0.975, 0.60, 0.30),
        0.3: (0.96, 0.70, 0.40),
        1.0: (0.95, 0.75, 0.45),
    },
    "sagr": {
        0.03: (0.99, 0.55, 0.25),
        0.1: (0.9825, 0.70, 0.40),
        0.3: (0.97, 0.75, 0.45),
        1.0: (0.90, 0.80, 0.50),
    },
    "igr": {
        1.0: (0.99, 0.30, 0.05),
        3.0: (0.985, 0.40, 0.10),
        10.0: (0.97, 0.50, 0.20),
        30.0: (0.90, 0.60, 0.30),
    },
}
CONFIGURED = {"jr": 0.1, "sagr": 0.1, "igr": 3.0}  # the rule picks jr 0.03, sagr 0.1, igr 3


@pytest.fixture(scope="module")
def sweep_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], dict]:
    root = tmp_path_factory.mktemp("lam")
    u = np.random.default_rng(0).permutation((np.arange(N) + 0.5) / N)
    entries: dict[str, dict] = {}

    def add(run: str, method: str, seed: int, ps: tuple, main: bool, lam: float | None) -> None:
        if run not in entries:
            _write(root, "mnist", run, method, seed, dict(zip((0, 0.1, 0.3), ps, strict=True)), 0.5, u)
            entries[run] = dict(
                dataset="mnist", run=run, method=method, seed=seed, hparams={}, main=False, sweeps=[]
            )
        e = entries[run]
        if lam is not None:
            e["hparams"]["lam"] = lam
        e["main"] = e["main"] or main
        if not main:
            e["sweeps"].append({"param": "lam", "value": lam})

    for seed in (0, 1):
        add(f"standard-seed{seed}", "standard", seed, (0.99, 0.0, 0.0), True, None)
        for method, lam in CONFIGURED.items():
            add(f"{method}-lam{lam:g}-seed{seed}", method, seed, SWEEP[method][lam], True, lam)
    for method, points in SWEEP.items():
        for lam, ps in points.items():
            add(f"{method}-lam{lam:g}-seed0", method, 0, ps, False, lam)
    manifest = list(entries.values())
    names = {
        "train": "train.json",
        "robustness": "robustness.json",
        "saliency": "saliency.json",
        "correct": "correct.npz",
    }
    files = {k: [root / e["dataset"] / e["run"] / f for e in manifest] for k, f in names.items()}
    return manifest, files


@pytest.fixture(scope="module")
def sweep_case(sweep_files: tuple[list[dict], dict]) -> results.Results:
    return results.load(*sweep_files)


def test_every_sweep_point_is_scored_at_every_eps_on_the_same_points(sweep_case: results.Results) -> None:
    points = T.lam_points(sweep_case, baseline="standard")
    sweep = points[points["method"] != "standard"]
    assert len(sweep[sweep["metric"] == CLEAN]) == sum(len(v) for v in SWEEP.values())
    assert sorted(sweep["eps"].unique()) == [0.0, 0.1, 0.3] and (points["n"] == N).all()
    for r in sweep.itertuples():
        k = {CLEAN: 0, "worst_case": 1 if r.eps == 0.1 else 2}[r.metric]
        assert r.accuracy == pytest.approx(SWEEP[r.method][r.lam][k]) and r.seed == 0
    base = points[points["method"] == "standard"]
    assert list(base["seed"]) == [0] and base["accuracy"].iloc[0] == pytest.approx(
        0.99
    )  # the sweep's seeds only


def test_lambda_choice_reports_the_rule_and_whether_it_agrees(sweep_case: results.Results) -> None:
    summary = T.lam_summary(T.lam_points(sweep_case, baseline="standard"))
    choice = T.lam_choice(summary, sweep_case, 0.01, "standard").set_index("method")
    assert choice.loc["jr", "chosen"] == 0.03 and not choice.loc["jr", "agrees"]
    assert choice.loc["sagr", "chosen"] == 0.1 and choice.loc["sagr", "agrees"]
    assert choice.loc["igr", "chosen"] == 3.0 and choice.loc["igr", "configured"] == 3.0
    assert choice.loc["jr", "reference"] == pytest.approx(0.99)
    assert choice.loc["jr", "clean_chosen"] == pytest.approx(0.985)


def test_c2_and_c3_are_also_decided_along_the_curves_at_matched_clean_accuracy(
    sweep_case: results.Results,
) -> None:
    """At each JR point, SAGR's curve interpolated at JR's clean accuracy, by hand:
    JR λ=0.03 (98.5 %) lies 2/3 of the way from SAGR λ=0.03 (99 %) to λ=0.1 (98.25 %): SAGR there
    has 1/3·0.55 + 2/3·0.70 = 0.65 at ε = 0.1 (JR 0.50) and 1/3·0.25 + 2/3·0.40 = 0.35 at 0.3 (JR 0.20);
    JR λ=0.1 (97.5 %): w = 0.6 between SAGR 0.1 and 0.3: 0.73 (JR 0.60) and 0.43 (JR 0.30);
    JR λ=0.3 (96 %): w = 1/7 between SAGR 0.3 and 1: 0.7571 (JR 0.70), 0.4571 (JR 0.40);
    JR λ=1 (95 %): w = 2/7: 0.7643 (JR 0.75), 0.4643 (JR 0.45)."""
    df = C.evaluate(sweep_case)
    c2m = df[df["claim"] == "C2m"]
    expected = [0.15, 0.15, 0.13, 0.13, 0.4 / 7, 0.4 / 7, 0.1 / 7, 0.1 / 7]
    assert list(c2m["estimate"]) == pytest.approx(expected) and (c2m["seeds"] == 1).all()
    assert c2m["comparison"].iloc[0] == "SAGR curve − JR λ=0.03 (at its clean 98.5 %), worst case ε=0.1"
    assert c2m["comparison"].iloc[-1] == "SAGR curve − JR λ=1 (at its clean 95.0 %), worst case ε=0.3"
    # at the configured λ (0.1 both) C2 compares the single models: +10 points
    c2 = df[df["claim"] == "C2"]
    assert list(c2["estimate"]) == pytest.approx([0.10, 0.10])
    c3m = df[df["claim"] == "C3m"]
    assert len(c3m) == 4 and c3m["comparison"].str.endswith("Gini").all()


def test_a_point_outside_the_other_curve_is_not_compared(sweep_case: results.Results) -> None:
    # SAGR λ=1 (90 % clean) is on IGR's curve (its λ=30 point is at 90 %) but beyond JR's (95-98.5 %)
    targets = {0: "sagr-lam1-seed0"}
    at = T.on_curve(sweep_case, "mnist", "igr", targets)
    assert at is not None and not at.missing and at.blends == ((("igr-lam30-seed0", 1.0),),)
    jr = T.on_curve(sweep_case, "mnist", "jr", targets)  # JR's curve ends at 95 %
    assert jr is not None and jr.missing.startswith("seed 0: clean 90.00 % is outside the curve")


def test_tradeoff_figure_draws_one_curve_per_method_in_lambda_order(
    sweep_case: results.Results, tmp_path: Path
) -> None:
    summary = T.lam_summary(T.lam_points(sweep_case))
    series = figures.tradeoff_series(summary, "mnist", 0.3)
    assert list(series) == ["igr", "jr", "sagr"]
    jr = series["jr"]
    assert list(jr["lam"]) == sorted(SWEEP["jr"])
    assert list(jr["mean_clean"]) == pytest.approx([SWEEP["jr"][lam][0] for lam in sorted(SWEEP["jr"])])
    assert list(jr["mean_worst"]) == pytest.approx([SWEEP["jr"][lam][2] for lam in sorted(SWEEP["jr"])])
    stem = figures.tradeoff(summary, ["mnist"], tmp_path, {"mnist": (0.99, 0.98)})
    assert (tmp_path / f"{stem}.png").stat().st_size > 0 and (tmp_path / f"{stem}.pdf").is_file()


def test_report_states_the_rule_the_lambda_it_picks_and_shows_the_tradeoff(
    sweep_files: tuple[list[dict], dict], tmp_path: Path
) -> None:
    from sagr.report import build_report

    settings = {"lambda_rule": {"max_clean_drop": 0.01, "baseline": "standard"}}  # the render rule's
    html, tex = tmp_path / "index.html", tmp_path / "report.tex"
    build_report(
        *sweep_files, settings, html, tex, summary_dir=tmp_path / "summary", fig_dir=tmp_path / "figures"
    )
    page = html.read_text()
    assert "at most 1 point(s) below Standard" in page and 'src="figures/tradeoff.png"' in page
    assert "For 1 method(s) this run" in page  # JR: configured 0.1, the rule picks 0.03
    choice = pd.read_csv(tmp_path / "summary" / "lambda_choice.csv").set_index("method")
    assert choice.loc["jr", "chosen"] == 0.03 and not choice.loc["jr", "agrees"]
    assert "trade-off" in tex.read_text() and "tradeoff.pdf" in tex.read_text()


def test_the_rule_reads_clean_accuracy_on_the_whole_test_split_where_every_run_has_it(
    sweep_case: results.Results,
) -> None:
    """The evaluation points put JR λ=0.1 1.5 points below Standard (the rule stops at 0.03); the
    training records' 10,000-image test split puts it 0.9 below (the rule takes 0.1). The rule follows
    the test split and says so; one run without it sends the whole rule back to the evaluation points."""
    import dataclasses

    summary = T.lam_summary(T.lam_points(sweep_case, baseline="standard"))
    whole = {"standard": 0.992}
    whole.update({f"jr-lam{lam:g}": c for lam, c in {0.03: 0.99, 0.1: 0.983, 0.3: 0.97, 1.0: 0.95}.items()})
    tr = sweep_case.training.copy()
    key = tr["run"].str.replace(r"-seed\d+$", "", regex=True)
    clean_eval = {r: SWEEP[m][lam][0] for m, d in SWEEP.items() for lam in d for r in [f"{m}-lam{lam:g}"]}
    tr["test_accuracy"] = [whole.get(k, clean_eval.get(k, 0.99)) for k in key]
    tr["n_test"] = 10000
    case = dataclasses.replace(sweep_case, training=tr)
    choice = T.lam_choice(summary, case, 0.01, "standard").set_index("method")
    assert choice.loc["jr", "chosen"] == 0.1 and choice.loc["jr", "agrees"]
    assert choice.loc["jr", "reference"] == pytest.approx(0.992)
    assert choice.loc["jr", "clean_chosen"] == pytest.approx(0.983)
    assert (choice["clean_points"] == "test split").all() and (choice["n_clean"] == 10000).all()
    tr.loc[tr["run"] == "jr-lam0.3-seed0", "test_accuracy"] = float("nan")
    back = T.lam_choice(summary, dataclasses.replace(sweep_case, training=tr), 0.01, "standard").set_index(
        "method"
    )
    assert back.loc["jr", "chosen"] == 0.03 and (back["clean_points"] == "evaluation points").all()
    assert (back["n_clean"] == N).all()


def test_no_tradeoff_panel_where_every_point_is_at_the_floor() -> None:
    rows = [
        dict(dataset="mnist", method=m, lam=lam, metric="worst_case", eps=eps, mean=v, suite="pgd")
        for m in ("jr", "sagr")
        for lam in (0.1, 0.3)
        for eps, v in ((0.1, 0.4), (0.2, 0.06), (0.3, 0.01))
    ]
    summary = pd.DataFrame(rows)
    assert figures.tradeoff_panels(summary, "mnist") == [0.1, 0.2]  # at 0.3 every point is below 5 %
    summary.loc[summary["eps"] == 0.2, "mean"] = 0.049
    assert figures.tradeoff_panels(summary, "mnist") == [0.1]
