"""The report's difference cells show the numbers of the summary tables it is built from
(sagr.summaries.paired_differences and sagr.claims.evaluate, the rows of the exported CSVs):
estimate and interval ends ×100 for accuracy (percentage points), as they are for saliency, and
[low, high] in that order."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from sagr import claims as C
from sagr import labels as L
from sagr import presentation as P
from sagr import results
from sagr import summaries as S
from sagr.report import claims as rep_claims
from sagr.report import robustness as rep_robustness
from test_claims import write_case

NUM = r"([+\u2212]\d+\.\d+)"  # an explicit sign: + or the minus sign U+2212, never a hyphen
CELL = re.compile(rf"{NUM} \[{NUM}, {NUM}\] \(n=(\d+), (\d+) seeds?")


def _number(text: str) -> float:
    return float(text.replace(P.MINUS, "-"))


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> results.Results:
    return results.load(*write_case(tmp_path_factory.mktemp("cells")))


def _expected(r, scale: float, digits: int) -> tuple:
    return tuple(round(scale * v, digits) for v in (r.estimate, r.low, r.high)) + (int(r.n), int(r.seeds))


def test_paired_table_cells_are_the_paired_differences(case: results.Results) -> None:
    diffs = S.paired_differences(case)
    checked = 0
    for dataset in diffs["dataset"].unique():
        table = rep_robustness.paired_table(diffs, dataset)
        for r in diffs[diffs["dataset"] == dataset].itertuples():
            scale, digits = (100.0, 1) if r.quantity == "accuracy" else (1.0, 3)
            cell = table.loc[
                f"{L.method_label(r.a)} − {L.method_label(r.b)}",
                rep_robustness.metric_column(r.metric, r.eps),
            ]
            m = CELL.match(cell)
            assert m, cell
            got = tuple(_number(v) for v in m.groups()[:3]) + tuple(int(v) for v in m.groups()[3:])
            assert got == pytest.approx(_expected(r, scale, digits), abs=10**-digits / 2 + 1e-9), cell
            assert got[1] <= got[0] <= got[2]
            checked += 1
    assert checked > 10 and (diffs["high"] - diffs["low"] > 0.01).all()


def test_claims_table_effects_are_the_claims_rows(case: results.Results) -> None:
    rows = C.evaluate(case)
    table = rep_claims.claims_table(rows)
    for (claim, dataset), g in rows.groupby(["claim", "dataset"], sort=False):
        cell = table[(table["Claim"] == claim) & (table["Dataset"] == L.dataset_label(dataset))]
        text = cell["Effect [interval]"].iloc[0]
        for r in g.itertuples():
            if not r.comparison:  # a claim not tested: no effect to show
                continue
            scale, digits = (100.0, 1) if r.kind == "accuracy" else (1.0, 3)
            m = CELL.match(text, text.index(f"{r.comparison}: ") + len(r.comparison) + 2)
            assert m, text
            got = tuple(_number(v) for v in m.groups()[:3]) + tuple(int(v) for v in m.groups()[3:])
            assert got == pytest.approx(_expected(r, scale, digits), abs=10**-digits / 2 + 1e-9), text


def test_verdict_cells_are_the_deciding_comparisons_rows(case: results.Results) -> None:
    rows = C.evaluate(case)
    table = rep_claims.verdicts_table(rows, list(rows["dataset"].unique()))
    shown = table[table["Deciding comparison"] != "runs missing"]  # in the claims' order
    cell = re.compile(rf"{NUM} \[{NUM}, {NUM}\]")
    decided = [
        (dataset, g, r)
        for (_, dataset), g in rows.groupby(["claim", "dataset"], sort=False)
        for r in [rep_claims.deciding_comparison(g)[0]]
        if r is not None
    ]
    assert len(decided) == len(shown) > 5
    for (dataset, g, r), (_, row) in zip(decided, shown.iterrows(), strict=True):
        assert row["Dataset"] == L.dataset_label(dataset) and row["Verdict"] == g["verdict"].iloc[0]
        scale, digits = (100.0, 1) if r["kind"] == "accuracy" else (1.0, 3)
        m = cell.match(row["Effect [interval]"])
        assert m and row["Deciding comparison"].startswith(r["comparison"].replace(", worst case ", " "))
        got = tuple(_number(v) for v in m.groups()) + tuple(int(v) for v in row["n × seeds"].split(" × "))
        assert got == pytest.approx(_expected(r, scale, digits), abs=10**-digits / 2 + 1e-9), row


def _claim_rows(verdict: str, low: float, high: float, equivalent: bool) -> pd.DataFrame:
    row = dict(
        claim="C3",
        statement="SAGR's maps are sharper.",
        dataset="mnist",
        verdict=verdict,
        comparison="SAGR − JR, Gini",
        kind="saliency",
        sign=1,
        premise=False,
        role=C.DECIDES,
        estimate=(low + high) / 2,
        low=low,
        high=high,
        mde=0.01,
        n=200,
        seeds=8,
        masked="",
        equivalence_p=0.01 if equivalent else 0.4,
        equivalent=equivalent,
    )
    return pd.DataFrame([row])


@pytest.mark.parametrize(
    "verdict, low, high, equivalent, marked",
    [
        (C.SUPPORTED, 0.002, 0.019, True, True),  # sharper, but by less than the margin
        (C.SUPPORTED, 0.002, 0.035, False, False),  # sharper, and maybe by more than the margin
        (C.EQUIVALENT, -0.01, 0.015, True, False),  # "equivalent" says it already
    ],
)
def test_a_significant_effect_inside_the_margin_is_marked_as_too_small_to_matter(
    verdict, low, high, equivalent, marked
) -> None:
    from sagr.report import matrix

    rows = _claim_rows(verdict, low, high, equivalent)
    table = rep_claims.verdicts_table(rows, ["mnist"])
    assert (rep_claims.BELOW_MARGIN in table["Deciding comparison"].iloc[0]) == marked
    assert table["Verdict"].iloc[0] == verdict  # the verdict keeps its sign
    cells = matrix.verdict_matrix(rows, pd.DataFrame(), ["mnist"])
    assert any(rep_claims.BELOW_MARGIN in str(v) for v in cells.to_numpy().ravel()) == marked


def test_the_readings_answer_counts_each_claims_readings_and_qualifies_a_small_support() -> None:
    from sagr.report import matrix

    def reading(label, claim, verdict, low, high, equivalent):
        return _claim_rows(verdict, low, high, equivalent).assign(claim=claim, reading=label)

    rows = pd.concat(
        [
            reading("β = 1", "C3", C.SUPPORTED, 0.004, 0.016, True),
            reading("T = 0.25", "C3", C.SUPPORTED, 0.03, 0.05, False),
            reading("T = 4", "C3", C.EQUIVALENT, -0.007, 0.02, True),
            reading("T = 4", "C2", C.CONTRADICTED, -0.044, -0.007, False),
            reading("β = 1", "C2", C.INCONCLUSIVE, -0.14, 0.1, False),
            reading("β = 1", "C4", C.NOT_TESTED, float("nan"), float("nan"), False),
        ],
        ignore_index=True,
    )
    text = matrix.readings_answer(rows)
    assert (
        f"C3: supported by β = 1 (MNIST, {rep_claims.BELOW_MARGIN}), T = 0.25 (MNIST); contradicted by 0 of 3"
        in text
    )
    assert "C2: no reading supports it (1 of 2 contradict it)" in text
    assert "C4: no reading tested" in text
