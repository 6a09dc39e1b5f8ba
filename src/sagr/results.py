"""Loading: every result file the report rule lists, read once into one typed `Results` object.

The report job passes the file lists of its rule (`snakemake.input`), never paths rebuilt from a
results folder. Each file is matched to its manifest entry by its folder (`{dataset}/{run}/`).

Every table carries the run's *keys*: ``dataset, run, method, seed, main`` (a default-setting run
of the method comparison) and its training hyper-parameters as ``hp_<name>`` (prefixed because a
training ``eps`` would otherwise collide with an attack's ``eps``). The other columns:

- ``runs``: ``status`` ("ok" | "diverged"), ``diverged_reason``.
- ``records``: one row per (run, attack, ε): ``attack, kind, role, norm, eps, accuracy, n,
  n_correct, n_eval, points`` ("all" | "subset" | "cascade": on which points it was measured),
  ``wall_time_s, params`` (JSON text), ``repr``.
- ``worst_case``: per (run, norm, ε): ``accuracy, n, n_correct, n_eval, attacks`` (comma-joined),
  ``apgd_strength`` (True/False, NaN when the file predates the field).
- ``masking``: per (run, check): ``check, title, passed, status`` ("pass" | "fail" | "n.a."),
  ``detail, p_value, alpha, n_points``.
- ``model_checks``: per (run, check) of AutoAttack's checks on the model (`sagr.model_checks`): ``check,
  title, passed, status`` ("pass" | "fail"), ``detail, n_points``; no rows for a file from before them.
- ``reference``: per run and ε with a reference AutoAttack cross-check: ``eps, accuracy, n,
  n_correct, torchattacks_accuracy, only_reference_broke, prefix_n`` (the points the reference was
  given), ``mcnemar_p, alpha`` (the level it was tested at), ``ref_points`` (on which points), ``differs``.
- ``saliency``: per run: ``n_images`` and ``<metric>_mean``, ``<metric>_std`` over images.
- ``training``: per run: ``epochs, final_loss, final_reg, final_train_accuracy,
  train_wall_time_s, test_accuracy, n_test`` (accuracy on the whole test split, and its size).
- ``history``: per (run, epoch) from train.json: the epoch's mean training ``loss, ce, reg``, and
  where the epoch was validated ``val_clean, val_pgd`` (accuracies on the held-out split) on
  ``val_n`` images (NaN where not validated).
- ``evaluation``: per run: ``n_eval`` (the suite's description is built from the config at
  render time, `sagr.robustness.describe`, never read from a result).
- ``jobs``: one row per provenance block: ``source, job, wall_time_s, device, host,
  git_commit, git_dirty, started`` and ``v_<package>`` versions.
- ``sweeps``: per (run, swept parameter): ``param, value``.
- ``correct``: per (dataset, run), the arrays of correct.npz (1 correct, 0 broken,
  `NOT_EVALUATED` on points the attack did not run on); `Results.outcomes` gives them with the
  run's records as one `OutcomeTable`, which every per-point question goes through.

robustness.json is read by `sagr.robustness.ModelResult.from_json` (every format version), so
the rows below never guess at a missing field.
Diverged runs appear in ``runs`` and ``training`` only: they get no robustness or saliency rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .files import read_json, read_npz
from .job_records import DIVERGED, SaliencyRecord, TrainRecord
from .labels import SPECIAL_ATTACKS
from .robustness import NOT_EVALUATED, ModelResult, OutcomeTable, as_float  # noqa: F401  (re-exported)

KEY_COLUMNS = ["dataset", "run", "method", "seed", "main"]
# Each run's result files (the workflow's outputs under results/<dataset>/<run>/), by kind.
RUN_FILES = {
    "train": "train.json",
    "robustness": "robustness.json",
    "saliency": "saliency.json",
    "correct": "correct.npz",
    "maps": "maps.npz",
}
FILE_KINDS = tuple(RUN_FILES)
# The columns of a table no run has rows for, so filters on them still work.
_EMPTY = {
    "runs": ["status", "diverged_reason"],
    "sweeps": ["param", "value"],
    "records": ["attack", "kind", "role", "norm", "eps", "accuracy", "n", "n_correct", "n_eval", "points",
                "wall_time_s", "params", "repr"],
    "worst_case": ["norm", "eps", "accuracy", "n", "n_correct", "n_eval", "attacks", "apgd_strength"],
    "masking": ["check", "title", "passed", "status", "detail", "p_value", "alpha", "n_points"],
    "model_checks": ["check", "title", "passed", "status", "detail", "n_points"],
    "reference": ["eps", "accuracy", "n", "n_correct", "torchattacks_accuracy", "only_reference_broke", "prefix_n",
                  "mcnemar_p", "alpha", "ref_points", "differs"],
    "saliency": ["n_images"],
    "training": ["epochs", "train_wall_time_s", "test_accuracy", "n_test"],
    "history": ["epoch", "loss", "ce", "reg", "val_clean", "val_pgd", "val_n"],
    "evaluation": ["n_eval"],
    "jobs": ["source", "job", "wall_time_s"],
}  # fmt: skip
TABLES = ("runs", "records", "worst_case", "masking", "model_checks", "reference", "saliency", "training", "history",
          "evaluation", "jobs", "sweeps")  # fmt: skip


def _empty(name: str) -> pd.DataFrame:
    """A table no run has rows for, with its columns, so filters on them still work."""
    return pd.DataFrame(columns=KEY_COLUMNS + _EMPTY[name])


@dataclass
class Results:
    """Everything the report shows, as tidy tables (columns: see the module docstring)."""

    runs: pd.DataFrame
    records: pd.DataFrame
    worst_case: pd.DataFrame
    masking: pd.DataFrame
    reference: pd.DataFrame
    saliency: pd.DataFrame
    training: pd.DataFrame
    evaluation: pd.DataFrame
    jobs: pd.DataFrame
    sweeps: pd.DataFrame
    correct: dict[tuple[str, str], dict[str, np.ndarray]] = field(default_factory=dict)
    maps: dict[tuple[str, str], Path] = field(default_factory=dict)
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    model_checks: pd.DataFrame = field(default_factory=lambda: _empty("model_checks"))
    # (dataset, run, source, settings as canonical JSON): what each job ran with, from its file's provenance
    job_settings: pd.DataFrame = field(default_factory=pd.DataFrame)
    _outcomes: dict[tuple[str, str], OutcomeTable] = field(default_factory=dict, repr=False)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tidy tables by name (what `write_tables` saves as CSV)."""
        return {name: getattr(self, name) for name in TABLES}

    def suite(self) -> dict[str, tuple[str, str | None]]:
        """Each attack's kind and role as its records state them (attack name -> (kind, role)), from
        which `sagr.labels` derives labels and order. Role None: a file from before roles."""
        if self.records.empty:
            return {}
        first = self.records.drop_duplicates("attack")
        roles = first["role"] if "role" in first else [None] * len(first)
        return {
            a: (k, r if isinstance(r, str) else None)
            for a, k, r in zip(first["attack"], first["kind"], roles, strict=True)
        }

    def attack_specs(self) -> dict[str, dict | None]:
        """Each attack's spec as its records state it (name -> parameters, ε aside), in the order the
        records first list them: the suite that produced these results, which the config at render time
        need not be. None for an attack whose records disagree (results evaluated under two configs)."""
        rob = self.records[~self.records["attack"].isin(SPECIAL_ATTACKS)]
        # params is JSON with sorted keys: equal specs are equal strings, so each is parsed once
        distinct = rob.drop_duplicates(["attack", "params"]).groupby("attack", sort=False)["params"]
        return {a: json.loads(p.iloc[0]) if len(p) == 1 else None for a, p in distinct}

    def flagged_runs(self, dataset: str) -> dict[str, list[str]]:
        """Runs of `dataset` with a failed model check or a failed gradient-masking check: run -> the ids
        of the checks that failed (model checks first, each in the order recorded). A run whose file
        predates the model checks is judged on its masking checks alone; a run with none is not flagged."""
        out: dict[str, list[str]] = {}
        for table in (self.model_checks, self.masking):
            if table.empty or "status" not in table:
                continue
            failed = table[(table["dataset"] == dataset) & (table["status"] == "fail")]
            for run, check in zip(failed["run"], failed["check"], strict=True):
                if check not in out.setdefault(run, []):
                    out[run].append(check)
        return out

    def datasets(self) -> list[str]:
        """Datasets in manifest (config) order, so every table and figure lists them alike."""
        return list(dict.fromkeys(self.runs["dataset"]))

    def seeds_of(self, dataset: str) -> list[int]:
        """Seeds of the main runs of a dataset that trained without diverging."""
        r = self.ok_runs()
        return sorted(int(s) for s in r.loc[(r["dataset"] == dataset) & r["main"], "seed"].unique())

    def ok_runs(self) -> pd.DataFrame:
        """Runs that did not diverge."""
        return self.runs[self.runs["status"] != DIVERGED]

    def failed_runs(self) -> pd.DataFrame:
        """Runs whose training diverged, with their reason."""
        return self.runs[self.runs["status"] == DIVERGED]

    def eval_sizes(self, dataset: str) -> list[int]:
        """The evaluation subset size(s) n_eval of a dataset."""
        ev = self.evaluation
        if ev.empty:
            return []
        return sorted(int(v) for v in ev.loc[ev["dataset"] == dataset, "n_eval"].dropna().unique())

    def point_correct(self, dataset: str, run: str, key: str) -> np.ndarray | None:
        """Per-point correctness as float (NaN = not evaluated), or None if not recorded."""
        arrays = self.correct.get((dataset, run))
        if arrays is None or key not in arrays:
            return None
        return as_float(arrays[key])

    def outcomes(self, dataset: str, run: str) -> OutcomeTable | None:
        """One run's records and per-point outcomes as its `OutcomeTable` (None without correct.npz)."""
        key = (dataset, run)
        if key not in self._outcomes:
            arrays = self.correct.get(key)
            if arrays is None:
                return None
            rec = self.records
            mine = rec[(rec["dataset"] == dataset) & (rec["run"] == run)] if not rec.empty else rec
            self._outcomes[key] = OutcomeTable.from_frame(mine, arrays)
        return self._outcomes[key]


# ---------------------------------------------------------------- matching files to runs


def files_by_run(inputs: Mapping[str, Iterable[str | Path]]) -> dict[tuple[str, str], dict]:
    """Index the rule's input lists by (dataset, run), read from each file's folder."""
    out: dict[tuple[str, str], dict[str, Path]] = {}
    for kind, paths in inputs.items():
        if kind not in FILE_KINDS:
            continue
        for p in paths:
            p = Path(p)
            out.setdefault((p.parent.parent.name, p.parent.name), {})[kind] = p
    return out


def _read_json(path: Path | None, kind: str, entry: Mapping) -> dict:
    """Read one result file, verified (sagr.files); a missing one names the file and how to rebuild it."""
    if path is None:
        raise FileNotFoundError(
            f"the report rule lists no {RUN_FILES[kind]} for run "
            f"{entry['run']!r} (dataset {entry['dataset']!r})"
        )
    data = read_json(path)
    for key in ("dataset", "run"):
        if key in data and data[key] != entry[key]:
            raise ValueError(f"{path}: {key} is {data[key]!r}, the manifest says {entry[key]!r}")
    return data


def _keys(entry: Mapping) -> dict:
    """The columns every row of a run carries: identity, `main` and `hp_*` hyper-parameters."""
    row = {k: entry[k] for k in ("dataset", "run", "method", "seed")}
    row["main"] = bool(entry.get("main", False))
    row.update({f"hp_{k}": v for k, v in (entry.get("hparams") or {}).items()})
    return row


def _settings_row(keys: Mapping, source: str, prov: Mapping | None) -> list[dict]:
    settings = ((prov or {}).get("config") or {}).get("settings")
    if settings is None:  # a file from before jobs recorded their settings
        return []
    return [
        dict(
            dataset=keys["dataset"],
            run=keys["run"],
            source=source,
            settings=json.dumps(settings, sort_keys=True),
        )
    ]


def provenance_row(keys: Mapping, source: str, prov: Mapping) -> dict:
    """One row of the jobs table: which job made which file, where, from which commit."""
    row = dict(
        keys,
        source=source,
        job=prov.get("job"),
        wall_time_s=prov.get("wall_time_s"),
        device=prov.get("device"),
        host=prov.get("host"),
        git_commit=prov.get("git_commit"),
        git_dirty=prov.get("git_dirty"),
        started=prov.get("started"),
    )
    row.update({f"v_{k}": v for k, v in (prov.get("versions") or {}).items()})
    return row


# ---------------------------------------------------------------- one file → rows


def _record_rows(keys: dict, rob: ModelResult) -> list[dict]:
    return [
        dict(
            keys,
            attack=r.attack,
            kind=r.kind,
            role=r.role,
            norm=r.norm,
            eps=r.eps,
            accuracy=r.accuracy,
            n=r.n,
            n_correct=r.n_correct,
            n_eval=rob.n_eval,
            points=r.points,
            wall_time_s=r.wall_time_s,
            params=json.dumps(r.params, sort_keys=True, default=str),
            repr=r.repr,
        )
        for r in rob.records
    ]


def _worst_rows(keys: dict, rob: ModelResult) -> list[dict]:
    return [
        dict(
            keys,
            norm=w.norm,
            eps=w.eps,
            accuracy=w.accuracy,
            n=w.n,
            n_correct=w.n_correct,
            n_eval=rob.n_eval,
            attacks=",".join(w.attacks),
            apgd_strength=w.apgd_strength,
        )
        for w in rob.worst_case
    ]


def _masking_rows(keys: dict, rob: ModelResult) -> list[dict]:
    return [
        dict(
            keys,
            check=c.check,
            title=c.title,
            passed=c.passed,
            status={True: "pass", False: "fail"}.get(c.passed, "n.a."),
            detail=c.detail,
            p_value=c.p_value,
            alpha=c.alpha,
            n_points=c.n_points,
        )
        for c in rob.masking
    ]


def _model_check_rows(keys: dict, rob: ModelResult) -> list[dict]:
    return [
        dict(
            keys,
            check=c.check,
            title=c.title,
            passed=c.passed,
            status="pass" if c.passed else "fail",
            detail=c.detail,
            n_points=c.n_points,
        )
        for c in rob.model_checks or []
    ]


def _reference_rows(keys: dict, rob: ModelResult, arrays: Mapping[str, np.ndarray] | None) -> list[dict]:
    """One row per ε the reference ran at, recomputed from the per-point outcomes where correct.npz is
    there (the evaluation file stores the largest ε's comparison only)."""
    refs = [rob.reference] if rob.reference is not None else []
    if arrays is not None and refs:
        refs = OutcomeTable(list(rob.records), dict(arrays)).reference_comparisons() or refs
    return [
        dict(
            keys,
            eps=ref.eps,
            accuracy=ref.accuracy,
            n=ref.n,
            n_correct=ref.n_correct,
            torchattacks_accuracy=ref.torchattacks_accuracy,
            only_reference_broke=ref.only_reference_broke,
            prefix_n=ref.prefix_n,
            mcnemar_p=ref.mcnemar_p,
            alpha=ref.alpha,
            ref_points=ref.points,
            differs=ref.differs,
        )
        for ref in refs
    ]


def _training_row(keys: dict, train: TrainRecord) -> dict:
    epochs = train.epochs_trained()
    last = epochs[-1] if epochs else None
    return dict(
        keys,
        epochs=len(epochs),
        final_loss=last.loss if last else None,
        final_reg=last.reg if last else None,
        final_train_accuracy=train.train_accuracy,  # the divergence judge's, after the last epoch
        train_wall_time_s=train.train_wall_time_s,
        test_accuracy=train.test_accuracy,
        # Files written before n_test was recorded: the registry's test split, which they were scored on.
        n_test=train.n_test or _registry_n_test(keys.get("dataset")),
    )


def _registry_n_test(dataset: str | None) -> int | None:
    from sagr.registry import DATASETS

    entry = DATASETS.get(dataset) if dataset else None
    return int(entry.n_test) if entry is not None else None


def _history_rows(keys: dict, train: TrainRecord) -> list[dict]:
    """One row per trained epoch; the validation columns where that epoch was validated."""
    val = train.validations()
    rows = []
    for e in train.epochs_trained():
        v = val.get(e.epoch)
        rows.append(
            dict(
                keys,
                epoch=e.epoch,
                loss=e.loss,
                ce=e.ce,
                reg=e.reg,
                val_clean=v.clean_accuracy if v else np.nan,
                val_pgd=v.pgd_accuracy if v else np.nan,
                val_n=(np.nan if v.n is None else v.n) if v else np.nan,
            )
        )
    return rows


def _saliency_row(keys: dict, sal: SaliencyRecord) -> dict:
    row = dict(keys, n_images=sal.n_images)
    for metric, s in sal.metrics.items():
        s = s or {}
        row[f"{metric}_mean"] = s.get("mean", np.nan)
        row[f"{metric}_std"] = s.get("std", np.nan)
    return row


def _read_npz(path: Path | None) -> dict[str, np.ndarray] | None:
    return None if path is None else read_npz(path)


# ---------------------------------------------------------------- load


def load(manifest: Sequence[Mapping[str, Any]], inputs: Mapping[str, Iterable[str | Path]]) -> Results:
    """Read every run of `manifest` from the files in `inputs` (kind → list of paths).

    Kinds: train, robustness, saliency (required for every run that trained without diverging),
    correct and maps (optional: without correct.npz the paired comparisons and the ablation's
    recomputed worst case are left out).
    """
    files = files_by_run(inputs)
    rows: dict[str, list[dict]] = {name: [] for name in TABLES}
    correct: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    maps: dict[tuple[str, str], Path] = {}
    settings: list[dict] = []
    for entry in manifest:
        key = (entry["dataset"], entry["run"])
        run_files = files.get(key, {})
        keys = _keys(entry)
        train = TrainRecord.from_json(_read_json(run_files.get("train"), "train", entry))
        rows["runs"].append(dict(keys, status=train.status, diverged_reason=train.diverged_reason))
        rows["training"].append(_training_row(keys, train))
        rows["history"] += _history_rows(keys, train)
        if train.provenance is not None:
            rows["jobs"].append(provenance_row(keys, "train.json", train.provenance))
        settings += _settings_row(keys, "train.json", train.provenance)
        for sweep in entry.get("sweeps") or []:
            rows["sweeps"].append(dict(keys, param=sweep["param"], value=sweep["value"]))
        if train.diverged:  # no robustness numbers for a model that did not train
            continue
        rob = ModelResult.from_json(_read_json(run_files.get("robustness"), "robustness", entry))
        sal = SaliencyRecord.from_json(_read_json(run_files.get("saliency"), "saliency", entry))
        rows["records"] += _record_rows(keys, rob)
        rows["worst_case"] += _worst_rows(keys, rob)
        rows["masking"] += _masking_rows(keys, rob)
        rows["model_checks"] += _model_check_rows(keys, rob)
        arrays = _read_npz(run_files.get("correct"))
        rows["reference"] += _reference_rows(keys, rob, arrays)
        rows["saliency"].append(_saliency_row(keys, sal))
        rows["evaluation"].append(dict(keys, n_eval=rob.n_eval))
        for source, prov in (("robustness.json", rob.provenance), ("saliency.json", sal.provenance)):
            if prov is not None:
                rows["jobs"].append(provenance_row(keys, source, prov))
            settings += _settings_row(keys, source, prov)
        for rec in rob.records:
            if rec.provenance is not None:
                rows["jobs"].append(provenance_row(keys, f"robustness.json:{rec.attack}", rec.provenance))
        if arrays is not None:
            correct[key] = arrays
        if run_files.get("maps") is not None:
            maps[key] = run_files["maps"]
    frames = {name: pd.DataFrame(r) if r else _empty(name) for name, r in rows.items()}
    return Results(**frames, correct=correct, maps=maps, job_settings=pd.DataFrame(settings))


def write_tables(
    results: Results, out_dir: Path, extra: Mapping[str, pd.DataFrame] | None = None
) -> list[Path]:
    """Write each tidy table (and `extra` ones) as CSV for users; returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, df in {**results.tables(), **(extra or {})}.items():
        path = out_dir / f"{name}.csv"
        df.to_csv(path, index=False)
        paths.append(path)
    return paths
