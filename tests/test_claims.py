"""Claims and paired comparisons: hand-made result sets with a known answer give that answer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import fake_results as fr
from sagr import claims as C
from sagr import results
from sagr import summaries as S
from sagr.files import write_json
from sagr.report import claims as rep_claims

N, SEEDS, EPS = 400, (0, 1, 2), (0.1, 0.3)
# Per dataset: SAGR's accuracy and Gini relative to JR, and β = 0.5 relative to β = 0.
CASES = {"sup": 0.15, "con": -0.15, "inc": 0.0}
BASE = {"pgd_at": 0.80, "igr": 0.40, "jr": 0.40, "sagr": 0.40}
GINI = {"pgd_at": 0.80, "igr": 0.50, "jr": 0.50, "sagr": 0.50}
JITTER = (0.01, -0.01, 0.0)  # SAGR's seed-to-seed spread, mean 0 by construction


def _write_run(
    root: Path, dataset: str, run: str, method: str, seed: int, p: float, gini: float, u: np.ndarray
) -> None:
    """One run's result files in the pipeline's (new) format, point i correct iff u_i < p."""
    d = root / dataset / run
    d.mkdir(parents=True)
    head = {"dataset": dataset, "run": run, "method": method, "seed": seed}
    ok = (u < p).astype(np.int8)
    arrays = {"clean": (u < p + 0.1).astype(np.int8)}
    records = [
        {
            "attack": "clean",
            "kind": "clean",
            "norm": "none",
            "eps": 0.0,
            "n": N,
            "n_correct": int(arrays["clean"].sum()),
            "accuracy": float(arrays["clean"].mean()),
            "points": "all",
            "role": None,
        }
    ]
    worst = []
    for i, eps in enumerate(EPS):
        a = ok if i == len(EPS) - 1 else (u < p + 0.05).astype(np.int8)
        arrays[f"pgd@{eps:g}"] = arrays[f"worst@{eps:g}"] = a
        records.append(
            {
                "attack": "pgd",
                "kind": "pgd",
                "role": "baseline",
                "norm": "linf",
                "eps": eps,
                "n": N,
                "n_correct": int(a.sum()),
                "accuracy": float(a.mean()),
                "points": "all",
            }
        )
        worst.append(
            {
                "norm": "linf",
                "eps": eps,
                "accuracy": float(a.mean()),
                "n": N,
                "n_correct": int(a.sum()),
                "attacks": ["pgd"],
                "apgd_strength": False,
            }
        )
    write_json(d / "train.json", {**head, "history": [], "status": "ok"})
    write_json(
        d / "robustness.json", {**head, "n_eval": N, "records": records, "worst_case": worst, "masking": []}
    )
    write_json(d / "saliency.json", {**head, "n_images": N, "metrics": {"gini": {"mean": gini, "std": 0.1}}})
    fr.write_npz(d / "correct.npz", **arrays)


def write_case(root: Path) -> tuple[list[dict], dict]:
    """Three datasets whose claims are supported ("sup"), contradicted ("con"), neither ("inc")."""
    manifest = []
    rng = np.random.default_rng(0)
    for dataset, effect in CASES.items():
        u = rng.random(N)  # the same points for every model: paired data, as in the pipeline
        for seed in SEEDS:
            for method in BASE:
                jitter = JITTER[seed] if method == "sagr" else 0.0
                p = BASE[method] + jitter + (effect if method == "sagr" else 0.0)
                g = GINI[method] + jitter / 2 + (effect if method == "sagr" else 0.0)
                run = f"{method}-seed{seed}"
                sweeps = [{"param": "beta", "value": 0.5}] if method == "sagr" else []
                _write_run(root, dataset, run, method, seed, p, g, u)
                manifest.append(
                    {
                        "dataset": dataset,
                        "run": run,
                        "method": method,
                        "seed": seed,
                        "hparams": {},
                        "main": True,
                        "sweeps": sweeps,
                    }
                )
            # β = 0 sits `effect` below the default β = 0.5 (above it when effect < 0)
            run = f"sagr-beta0-seed{seed}"
            _write_run(
                root,
                dataset,
                run,
                "sagr",
                seed,
                BASE["sagr"] + effect + JITTER[seed] - effect,
                GINI["sagr"] + effect - effect + JITTER[seed] / 2,
                u,
            )
            manifest.append(
                {
                    "dataset": dataset,
                    "run": run,
                    "method": "sagr",
                    "seed": seed,
                    "hparams": {"beta": 0.0},
                    "main": False,
                    "sweeps": [{"param": "beta", "value": 0.0}],
                }
            )
    kinds = {
        "train": "train.json",
        "robustness": "robustness.json",
        "saliency": "saliency.json",
        "correct": "correct.npz",
    }
    files = {k: [root / e["dataset"] / e["run"] / name for e in manifest] for k, name in kinds.items()}
    return manifest, files


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> results.Results:
    return results.load(*write_case(tmp_path_factory.mktemp("claims")))


def _verdicts(res: results.Results) -> dict[tuple[str, str], str]:
    df = C.evaluate(res)
    return {(r.claim, r.dataset): r.verdict for r in df.drop_duplicates(["claim", "dataset"]).itertuples()}


def test_hand_made_results_give_the_right_verdicts(case: results.Results) -> None:
    v = _verdicts(case)
    for claim in ("C2", "C3", "C4", "C5"):  # SAGR better than JR / β > 0 better than β = 0
        assert v[(claim, "sup")] == C.SUPPORTED, claim
        assert v[(claim, "con")] == C.CONTRADICTED, claim
        assert v[(claim, "inc")] == C.INCONCLUSIVE, claim
    for dataset in CASES:  # PGD-AT beats JR and IGR everywhere by construction
        assert v[("C1", dataset)] == C.SUPPORTED
        assert v[("C6", dataset)] == C.SUPPORTED


def test_claim_without_its_runs_is_not_tested(tmp_path: Path) -> None:
    manifest, files = write_case(tmp_path)
    keep = [i for i, e in enumerate(manifest) if e["method"] != "jr"]
    res = results.load([manifest[i] for i in keep], {k: [v[i] for i in keep] for k, v in files.items()})
    v = _verdicts(res)
    assert v[("C2", "sup")] == C.NOT_TESTED and v[("C4", "sup")] == C.SUPPORTED


def test_claim_effects_come_from_the_files(case: results.Results) -> None:
    df = C.evaluate(case)
    c2 = df[(df["claim"] == "C2") & (df["dataset"] == "sup")]
    # SAGR − JR at the largest ε: 0.15 above by construction, seeds' jitter averaging to 0
    last = c2[c2["comparison"].str.endswith(f"ε={EPS[-1]:g}")].iloc[0]
    assert last["estimate"] == pytest.approx(0.15, abs=0.03)
    assert last["low"] < last["estimate"] < last["high"] and last["n"] == N
    assert last["seeds"] == len(SEEDS) and last["level"] == pytest.approx(1 - 0.05 / len(EPS))


def test_paired_differences_cover_every_pair_budget_and_metric(case: results.Results) -> None:
    d = S.paired_differences(case)
    sup = d[d["dataset"] == "sup"]
    assert {(a, b) for a, b in zip(sup["a"], sup["b"], strict=True)} == set(S.PAIRS)
    worst = sup[(sup["a"] == "sagr") & (sup["b"] == "pgd_at") & (sup["metric"] == "worst_case")]
    assert sorted(worst["eps"]) == list(EPS)
    assert (worst["significant"] == -1).all()  # 0.55 vs 0.80 on 400 shared points
    assert set(sup.loc[sup["quantity"] == "saliency", "metric"]) == {"gini"}


def test_claims_table_gives_each_claim_and_dataset_a_verdict_row(case: results.Results) -> None:

    table = rep_claims.claims_table(C.evaluate(case))
    assert len(table) == len(C.CLAIMS) * len(CASES)
    assert set(table["Verdict"]) == {C.SUPPORTED, C.CONTRADICTED, C.INCONCLUSIVE, C.NOT_TESTED}
    # only the matched-clean claims lack their runs here (no λ sweep)
    assert set(table.loc[table["Verdict"] == C.NOT_TESTED, "Claim"]) == {"C2m", "C3m"}
    c2 = table[table["Claim"] == "C2"]
    assert (c2["Statement"] != "").sum() == 1  # the statement once per claim
    assert all("n=400, 3 seeds" in e for e in c2["Effect [interval]"])
