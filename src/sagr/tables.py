"""Tidy pandas tables from the per-model result files, and the summaries the report shows.

Every number in the report comes from the tables that `collect` builds: one row per
record, each carrying dataset, run, method, seed, `main` and the run's hyper-parameters
(prefixed `hp_`, because training hyper-parameters such as PGD-AT's `eps` would
otherwise collide with the attack's `eps`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import registry
from .files import read_json

# Labels and orders of methods and datasets come from their registry entries.
DATASET_LABELS = {name: d.label for name, d in registry.DATASETS.items()}
METHOD_ORDER = registry.method_order()
METHOD_LABELS = {name: m.label for name, m in registry.methods().items()}
# The worst case comes right after clean: it is the headline number, and wide tables scroll.
ATTACK_ORDER = [
    "clean", "worst_case", "fgsm", "pgd", "pgd_strong", "cw_inf", "autoattack", "square",
    "pgd_unbounded", "cw_l2",
]
ATTACK_LABELS = {
    "clean": "Clean",
    "fgsm": "FGSM",
    "pgd": "PGD",
    "pgd_strong": "PGD (strong)",
    "cw_inf": "CW-∞",
    "cw_l2": "CW-L2",
    "autoattack": "AutoAttack",
    "square": "Square",
    "pgd_unbounded": "PGD unbounded",
    "worst_case": "Worst case",
}
CHECK_ORDER = ["monotone_eps", "unbounded_zero", "blackbox_not_stronger", "more_steps_no_gain"]
SALIENCY_METRICS = {
    "gini": "Gini ↑",
    "entropy": "Entropy ↓",
    "alignment": "Alignment ↑",
    "foreground_mass": "Foreground mass ↑",
}
RESULT_FILES = ("train.json", "robustness.json", "saliency.json")


# ---------------------------------------------------------------- labels and formats

def dataset_label(name: str) -> str:
    """Human name of a dataset key."""
    return DATASET_LABELS.get(name, name)


def method_label(name: str) -> str:
    """Human name of a method key."""
    return METHOD_LABELS.get(name, name)


def attack_label(name: str) -> str:
    """Human name of an attack key."""
    return ATTACK_LABELS.get(name, name)


def _rank(order: list[str]) -> Callable[[str], tuple[int, str]]:
    """Sort key placing known names in `order` first, unknown ones after, alphabetically."""
    return lambda name: (order.index(name) if name in order else len(order), str(name))


method_rank = _rank(METHOD_ORDER)
attack_rank = _rank(ATTACK_ORDER)
check_rank = _rank(CHECK_ORDER)


def sorted_methods(names: Iterable[str]) -> list[str]:
    """Methods in the paper's order (baselines first, SAGR last)."""
    return sorted(set(names), key=method_rank)


def fmt_eps(eps: float) -> str:
    """An ε budget as written in papers: 0.3, or 8/255 for CIFAR-like budgets."""
    if eps == 0:
        return "0"
    if abs(eps - round(eps, 3)) < 1e-9:  # a short decimal (0.1, 0.3, 1.5) stays decimal
        return f"{eps:g}"
    k = eps * 255
    if abs(k - round(k)) < 1e-6:
        return f"{round(k)}/255"
    return f"{eps:.3g}"


def fmt_mean_std(mean: float, std: float, seeds: int, scale: float = 100.0, digits: int = 1,
                 se: float | None = None) -> str:
    """'mean ± std' over seeds ('±' dropped with one seed), optionally '(SE x)' for subsets."""
    if mean is None or pd.isna(mean):
        return "–"
    text = f"{scale * mean:.{digits}f}"
    if seeds > 1 and not pd.isna(std):
        text += f" ± {scale * std:.{digits}f}"
    if se is not None and not pd.isna(se):
        text += f" (SE {scale * se:.{digits}f})"
    return text


def binomial_se(p: float, n: float) -> float:
    """Sampling standard error of an accuracy p measured on n points."""
    return math.sqrt(max(p * (1 - p), 0.0) / n) if n else float("nan")


# ---------------------------------------------------------------- collect

def _read_json(path: Path, entry: dict) -> dict:
    """Read one result file; a missing one names the file and the run that needs it."""
    if not path.is_file():
        raise FileNotFoundError(
            f"missing result file {path} for run {entry['run']!r} (dataset {entry['dataset']!r}); "
            "rebuild it with snakemake before rendering the report")
    data = read_json(path)  # names the file and the command that rebuilds it if damaged
    for key in ("dataset", "run"):
        if key in data and data[key] != entry[key]:
            raise ValueError(f"{path}: {key} is {data[key]!r}, the manifest says {entry[key]!r}")
    return data


def _keys(entry: dict) -> dict:
    """The columns every row of a run carries: identity, `main` and `hp_*` hyper-parameters."""
    row = {k: entry[k] for k in ("dataset", "run", "method", "seed")}
    row["main"] = bool(entry.get("main", False))
    row.update({f"hp_{k}": v for k, v in (entry.get("hparams") or {}).items()})
    return row


def provenance_row(keys: dict, source: str, prov: dict) -> dict:
    """One row of the jobs table: which job made which file, where, from which commit."""
    row = dict(keys, source=source, job=prov.get("job"), wall_time_s=prov.get("wall_time_s"),
               device=prov.get("device"), host=prov.get("host"), git_commit=prov.get("git_commit"),
               git_dirty=prov.get("git_dirty"), started=prov.get("started"))
    row.update({f"v_{k}": v for k, v in (prov.get("versions") or {}).items()})
    return row


def collect(manifest: list[dict], results_dir: Path) -> dict[str, pd.DataFrame]:
    """Read every run's result files into tidy tables, one row per record.

    Returns robustness, worst_case, masking, saliency, training, evaluation (n_eval and the
    AutoAttack description per run), jobs (every provenance) and sweeps (run × swept param).
    """
    results_dir = Path(results_dir)
    rows: dict[str, list[dict]] = {name: [] for name in
                                   ("robustness", "worst_case", "masking", "saliency",
                                    "training", "evaluation", "jobs", "sweeps")}
    for entry in manifest:
        run_dir = results_dir / entry["dataset"] / entry["run"]
        train, rob, sal = (_read_json(run_dir / name, entry) for name in RESULT_FILES)
        keys = _keys(entry)

        history = train.get("history") or []
        last = history[-1] if history else {}
        rows["training"].append(dict(
            keys, epochs=len(history), final_loss=last.get("loss"), final_reg=last.get("reg"),
            final_train_accuracy=last.get("train_accuracy"),
            train_wall_time_s=train.get("train_wall_time_s"),
            test_accuracy=train.get("test_accuracy")))

        n_eval = rob.get("n_eval")
        rows["evaluation"].append(dict(
            keys, n_eval=n_eval, autoattack_description=rob.get("autoattack_description", "")))
        for rec in rob.get("records", []):
            params = rec.get("params") or {}
            rows["robustness"].append(dict(
                keys, attack=rec["attack"], kind=rec.get("kind", rec["attack"]),
                norm=rec.get("norm", "linf"), eps=float(rec.get("eps", 0.0)),
                accuracy=rec["accuracy"], n=rec.get("n", n_eval), n_eval=n_eval,
                wall_time_s=rec.get("wall_time_s"),
                params=json.dumps(params, sort_keys=True, default=str), repr=rec.get("repr", "")))
            if "provenance" in rec:
                rows["jobs"].append(provenance_row(keys, f"robustness.json:{rec['attack']}",
                                                    rec["provenance"]))
        for wc in rob.get("worst_case", []):
            rows["worst_case"].append(dict(
                keys, norm=wc.get("norm", "linf"), eps=float(wc["eps"]), accuracy=wc["accuracy"],
                n=wc.get("n", n_eval), n_eval=n_eval, attacks=",".join(wc.get("attacks", []))))
        for chk in rob.get("masking", []):
            passed, detail = chk.get("passed"), chk.get("detail", "")
            rows["masking"].append(dict(
                keys, check=chk["check"], title=chk.get("title", chk["check"]), passed=passed,
                status={True: "pass", False: "fail"}.get(passed, "n.a."),
                detail=detail if isinstance(detail, str) else json.dumps(detail, default=str)))

        sal_row = dict(keys, n_images=sal.get("n_images"))
        for metric, stats in (sal.get("metrics") or {}).items():
            stats = stats or {}
            sal_row[f"{metric}_mean"] = stats.get("mean", np.nan)
            sal_row[f"{metric}_std"] = stats.get("std", np.nan)
        rows["saliency"].append(sal_row)

        for source, data in zip(RESULT_FILES, (train, rob, sal)):
            if "provenance" in data:
                rows["jobs"].append(provenance_row(keys, source, data["provenance"]))
        for sweep in entry.get("sweeps") or []:
            rows["sweeps"].append(dict(keys, param=sweep["param"], value=sweep["value"]))

    return {name: pd.DataFrame(r) for name, r in rows.items()}


def write_tables(tables: dict[str, pd.DataFrame], out_dir: Path) -> list[Path]:
    """Write each tidy table, and the per-method summary, as CSV for users."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    frames = dict(tables)
    if not tables["robustness"].empty:
        frames["robustness_summary"] = robustness_summary(tables).reset_index()
    for name, df in frames.items():
        path = out_dir / f"{name}.csv"
        df.to_csv(path, index=False)
        paths.append(path)
    return paths


# ---------------------------------------------------------------- robustness

def _worst_as_records(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Worst-case rows shaped like robustness records (attack 'worst_case'), budgets only.

    ε ≥ 1 covers all of [0,1] pixel space: the unbounded sanity attack, shown in its own column
    and in the masking checks, not a budget to take a worst case at (it stays in the CSV).
    """
    wc = tables["worst_case"]
    if wc.empty:
        return wc
    return wc[wc["eps"] < 1].assign(attack="worst_case", kind="worst_case")


def robustness_summary(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Mean, std over seeds, n and subset SE per dataset × method × attack × ε (main runs)."""
    cols = ["dataset", "method", "seed", "main", "attack", "norm", "eps", "accuracy", "n",
            "n_eval"]
    rob = tables["robustness"]
    long = pd.concat([rob[cols], _worst_as_records(tables).reindex(columns=cols)],
                     ignore_index=True)
    long = long[long["main"].astype(bool)]
    out = (long.groupby(["dataset", "method", "attack", "norm", "eps"], sort=False)
           .agg(mean=("accuracy", "mean"), std=("accuracy", "std"), seeds=("seed", "nunique"),
                n=("n", "min"), n_eval=("n_eval", "max")))
    out["subset"] = out["n"] < out["n_eval"]
    out["se"] = [binomial_se(p, n) for p, n in zip(out["mean"], out["n"])]
    return out


def masking_failures(tables: dict[str, pd.DataFrame], dataset: str,
                     main_only: bool = True) -> dict[str, list[str]]:
    """Failed gradient-masking checks per method, as 'seed s: title (detail)' lines."""
    m = tables["masking"]
    if m.empty:
        return {}
    m = m[(m["dataset"] == dataset) & (m["status"] == "fail")]
    if main_only:
        m = m[m["main"]]
    out: dict[str, list[str]] = {}
    for row in m.itertuples():
        line = f"seed {row.seed}: {row.title}"
        if row.detail:
            line += f" ({row.detail})"
        out.setdefault(row.method, []).append(line)
    return out


FLAG = "⚠"


def main_table(summary: pd.DataFrame, dataset: str, flagged: Iterable[str] = ()) -> pd.DataFrame:
    """Rows = methods, columns = (attack, ε) cells 'mean ± std' in %, clean and worst case first.

    Methods in `flagged` carry the warning sign next to their name.
    """
    s = summary.xs(dataset, level="dataset").reset_index()
    s = s.assign(_rank=s["attack"].map(attack_rank)).sort_values(["_rank", "norm", "eps"])
    flagged = set(flagged)
    columns, cells = [], {}
    for row in s.itertuples():
        if row.attack == "clean":
            col = (attack_label("clean"), "")
        else:
            sub = f" · n={int(row.n)}" if row.subset else ""
            col = (attack_label(row.attack), f"ε={fmt_eps(row.eps)}{sub}")
        if col not in columns:
            columns.append(col)
        cells[(row.method, col)] = fmt_mean_std(row.mean, row.std, row.seeds,
                                                se=row.se if row.subset else None)
    methods = sorted_methods(s["method"])
    index = [method_label(m) + (f" {FLAG}" if m in flagged else "") for m in methods]
    data = [[cells.get((m, c), "–") for c in columns] for m in methods]
    return pd.DataFrame(data, index=pd.Index(index, name="Method"),
                        columns=pd.MultiIndex.from_tuples(columns, names=["Attack", "ε"]))


def eval_sizes(tables: dict[str, pd.DataFrame], dataset: str) -> list[int]:
    """The full evaluation subset size(s) of a dataset (n_eval)."""
    ev = tables["evaluation"]
    return sorted(int(v) for v in ev.loc[ev["dataset"] == dataset, "n_eval"].dropna().unique())


def curves(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per-model robust accuracy (%) vs ε for PGD and the worst case; clean sits at ε = 0."""
    rob = tables["robustness"]
    rob = rob[rob["main"]]
    clean = rob[rob["attack"] == "clean"]
    parts = []
    for attack, frame in (("PGD", rob[rob["attack"] == "pgd"]),
                          ("Worst case", _worst_as_records(tables))):
        if frame.empty:
            continue
        frame = frame[frame["main"].astype(bool)]
        parts += [frame.assign(curve=attack), clean.assign(curve=attack, eps=0.0)]
    if not parts:
        return pd.DataFrame(columns=["dataset", "method", "seed", "curve", "eps", "accuracy"])
    df = pd.concat(parts, ignore_index=True)[["dataset", "method", "seed", "curve", "eps",
                                              "accuracy"]]
    return df.assign(accuracy=100 * df["accuracy"])


# ---------------------------------------------------------------- masking

def masking_table(tables: dict[str, pd.DataFrame], dataset: str) -> pd.DataFrame:
    """Every model's gradient-masking checks: pass / fail / n.a. with the numbers behind them."""
    m = tables["masking"]
    m = m[m["dataset"] == dataset]
    m = m.assign(_m=m["method"].map(method_rank), _c=m["check"].map(check_rank))
    m = m.sort_values(["_m", "run", "_c"])
    return pd.DataFrame({
        "Method": m["method"].map(method_label), "Seed": m["seed"], "Run": m["run"],
        "Check": m["title"], "Result": m["status"], "Detail": m["detail"].fillna(""),
    }).reset_index(drop=True)


# ---------------------------------------------------------------- saliency

def saliency_table(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Mean ± std over seeds of each model's mean saliency metric, per dataset × method."""
    sal = tables["saliency"]
    sal = sal[sal["main"]]
    metrics = [m for m in SALIENCY_METRICS if f"{m}_mean" in sal]
    rows, index = [], []
    for (dataset, method), g in sal.groupby(["dataset", "method"], sort=False):
        index.append((dataset, method))
        row = {}
        for m in metrics:
            vals = g[f"{m}_mean"].dropna()
            row[SALIENCY_METRICS[m]] = ("n.a." if vals.empty else
                                        fmt_mean_std(vals.mean(), vals.std(), len(vals),
                                                     scale=1.0, digits=3))
        rows.append(row)
    df = pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(index, names=["Dataset", "Method"]))
    if df.empty:
        return df
    ds_order = datasets(tables)
    order = sorted(index, key=lambda k: (ds_order.index(k[0]), method_rank(k[1])))
    df = df.loc[order]
    df.index = pd.MultiIndex.from_tuples([(dataset_label(d), method_label(m)) for d, m in order],
                                         names=["Dataset", "Method"])
    return df


def saliency_rows(tables: dict[str, pd.DataFrame], dataset: str) -> list[tuple[str, str]]:
    """(method label, run) of the lowest-seed main run of each method: the figure's rows."""
    tr = tables["training"]
    tr = tr[(tr["dataset"] == dataset) & tr["main"]].sort_values("seed")
    first = tr.drop_duplicates("method")
    return [(method_label(r.method), r.run)
            for r in sorted(first.itertuples(), key=lambda r: method_rank(r.method))]


# ---------------------------------------------------------------- ablation

def ablation_long(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per sweep point and seed: clean, PGD at the largest ε, worst case at the largest ε, Gini."""
    sw = tables["sweeps"]
    if sw.empty:
        return pd.DataFrame()
    rob, wc, sal = tables["robustness"], _worst_as_records(tables), tables["saliency"]
    rows = []
    for r in sw.itertuples():
        run_rob = rob[(rob["dataset"] == r.dataset) & (rob["run"] == r.run)]
        row = dict(dataset=r.dataset, run=r.run, seed=r.seed, param=r.param, value=r.value)
        row["Clean (%)"] = _pick(run_rob[run_rob["attack"] == "clean"])
        pgd = rob[(rob["dataset"] == r.dataset) & (rob["attack"] == "pgd")]
        if not pgd.empty:
            eps = pgd["eps"].max()
            row["PGD @ largest ε (%)"] = _pick(run_rob[(run_rob["attack"] == "pgd")
                                                       & (run_rob["eps"] == eps)])
            row["eps_pgd"] = eps
        run_wc = wc[(wc["dataset"] == r.dataset) & (wc["run"] == r.run)] if not wc.empty else wc
        if not run_wc.empty:
            row["Worst case @ largest ε (%)"] = _pick(run_wc[run_wc["eps"] == run_wc["eps"].max()])
            row["eps_worst"] = run_wc["eps"].max()
        s = sal[(sal["dataset"] == r.dataset) & (sal["run"] == r.run)]
        row["Gini"] = float(s["gini_mean"].iloc[0]) if "gini_mean" in s and len(s) else np.nan
        rows.append(row)
    df = pd.DataFrame(rows)
    for col in ("Clean (%)", "PGD @ largest ε (%)", "Worst case @ largest ε (%)"):
        if col in df:
            df[col] = 100 * df[col]
    return df


def _pick(frame: pd.DataFrame) -> float:
    """The single accuracy in `frame`, NaN if absent."""
    return float(frame["accuracy"].iloc[0]) if len(frame) else np.nan


ABLATION_METRICS = ["Clean (%)", "PGD @ largest ε (%)", "Worst case @ largest ε (%)", "Gini"]


def ablation_table(long: pd.DataFrame, param: str) -> pd.DataFrame:
    """One sweep as a table: rows = dataset × value, columns = the ablation metrics."""
    d = long[long["param"] == param]
    metrics = [m for m in ABLATION_METRICS if m in d and d[m].notna().any()]
    rows, index = [], []
    d = d.assign(_d=d["dataset"].map(list(dict.fromkeys(long["dataset"])).index))
    for (_, dataset, value), g in d.groupby(["_d", "dataset", "value"], sort=True):
        index.append((dataset_label(dataset), _fmt_value(value)))
        rows.append({m: fmt_mean_std(g[m].mean(), g[m].std(), g[m].notna().sum(),
                                     scale=1.0, digits=3 if m == "Gini" else 1)
                     for m in metrics})
    return pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(
        index, names=["Dataset", PARAM_LABELS.get(param, param)]))


PARAM_LABELS = {"beta": "β", "lam": "λ", "T": "T", "form": "form", "estimator": "estimator",
                "n_proj": "projections"}
param_rank = _rank(list(PARAM_LABELS))


def _fmt_value(v: Any) -> str:
    """A sweep value as text (numbers compactly)."""
    return f"{v:g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)


def sweep_params(long: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Swept parameters split into numeric ones (line plots) and categorical ones (tables)."""
    if long.empty:
        return [], []
    numeric, categorical = [], []
    for param, g in long.groupby("param", sort=False):
        is_num = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in g["value"])
        (numeric if is_num else categorical).append(param)
    return numeric, categorical


# ---------------------------------------------------------------- cost, set-up, provenance

def cost_table(benchmark: dict) -> pd.DataFrame:
    """The benchmark rows: ms/step, ratio to standard and the spec's goal ratio."""
    goals = benchmark.get("goals") or {}
    rows = []
    for r in sorted(benchmark.get("rows", []), key=lambda r: method_rank(r["method"])):
        key = r["method"] + (f"/{r['variant']}" if r.get("variant") else "")
        goal = goals.get(key, goals.get(r["method"], "–"))
        rows.append({"Method": method_label(r["method"]), "Variant": r.get("variant") or "–",
                     "ms / step": f"{r['ms_per_step']:.1f}",
                     "× standard": f"{r['ratio_to_standard']:.2f}",
                     "Goal (×)": f"≤ {goal}" if goal != "–" else "–",
                     "Batch": r.get("batch_size", "–"), "Architecture": r.get("arch", "–")})
    return pd.DataFrame(rows)


def training_table(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Each run's training wall time, epochs, final loss and test accuracy."""
    tr = tables["training"]
    tr = tr.assign(_d=tr["dataset"].map(datasets(tables).index), _m=tr["method"].map(method_rank))
    tr = tr.sort_values(["_d", "_m", "run"])
    per_epoch = tr["train_wall_time_s"] / tr["epochs"].where(tr["epochs"] > 0)
    return pd.DataFrame({
        "Dataset": tr["dataset"].map(dataset_label), "Method": tr["method"].map(method_label),
        "Run": tr["run"], "Epochs": tr["epochs"],
        "Wall time (s)": tr["train_wall_time_s"].map(lambda v: f"{v:.1f}"),
        "s / epoch": per_epoch.map(lambda v: "–" if pd.isna(v) else f"{v:.1f}"),
        "Final loss": tr["final_loss"].map(lambda v: "–" if pd.isna(v) else f"{v:.4f}"),
        "Test acc. (%)": tr["test_accuracy"].map(lambda v: "–" if pd.isna(v) else f"{100*v:.2f}"),
    }).reset_index(drop=True)


def attack_setup_table(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every attack with all its parameters, its budgets and points, and one example repr."""
    rob = tables["robustness"]
    rob = rob[rob["attack"] != "clean"]
    rob = rob.assign(_d=rob["dataset"].map(datasets(tables).index),
                     _a=rob["attack"].map(attack_rank))
    rows = []
    for (_, dataset, _, attack, norm), g in rob.groupby(["_d", "dataset", "_a", "attack", "norm"],
                                                        sort=True):
        # parameters other than ε are shared over the budgets; group by them to stay honest
        params = g["params"].map(lambda s: json.dumps(
            {k: v for k, v in json.loads(s).items() if k != "eps"}, sort_keys=True))
        g = g.assign(_p=params).sort_values("eps")
        for p, h in g.groupby("_p", sort=False):
            rows.append({
                "Dataset": dataset_label(dataset), "Attack": attack_label(attack),
                "Norm": {"linf": "L∞", "l2": "L2"}.get(norm, norm),
                "ε": ", ".join(fmt_eps(e) for e in sorted(h["eps"].unique())),
                "n": ", ".join(str(int(v)) for v in sorted(h["n"].unique())),
                "Parameters": ", ".join(f"{k}={v}" for k, v in json.loads(p).items()) or "–",
                "repr (one model)": h["repr"].iloc[0],
            })
    return pd.DataFrame(rows)


def jobs_summary(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Wall time per job kind: how many jobs, total, mean and longest."""
    jobs = tables["jobs"]
    if jobs.empty:
        return jobs
    g = jobs.groupby(["job", "device"], dropna=False, sort=True)["wall_time_s"]
    df = g.agg(["count", "sum", "mean", "max"]).reset_index()
    return pd.DataFrame({
        "Job": df["job"], "Device": df["device"], "Jobs": df["count"],
        "Total (s)": df["sum"].map(lambda v: f"{v:.1f}"),
        "Mean (s)": df["mean"].map(lambda v: f"{v:.1f}"),
        "Max (s)": df["max"].map(lambda v: f"{v:.1f}"),
    })


def versions_table(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Library versions across all jobs; more than one value per package is listed in full."""
    jobs = tables["jobs"]
    cols = [c for c in jobs.columns if c.startswith("v_")]
    rows = [{"Package": c[2:],
             "Version(s)": ", ".join(sorted(str(v) for v in jobs[c].dropna().unique()))}
            for c in cols]
    return pd.DataFrame(rows)


def datasets(tables: dict[str, pd.DataFrame]) -> list[str]:
    """Datasets in manifest (config) order, so every table and figure lists them alike."""
    return list(dict.fromkeys(tables["training"]["dataset"]))


def seeds_of(tables: dict[str, pd.DataFrame], dataset: str) -> list[int]:
    """Seeds of the main runs of a dataset."""
    tr = tables["training"]
    return sorted(int(s) for s in tr.loc[(tr["dataset"] == dataset) & tr["main"], "seed"].unique())


def distinct(tables: dict[str, pd.DataFrame], table: str, column: str) -> list:
    """Sorted distinct non-null values of a column (for the header and provenance lines)."""
    df = tables[table]
    if df.empty or column not in df:
        return []
    return sorted(df[column].dropna().unique().tolist(), key=str)
