"""One function per pipeline job: its rule's settings in, result files out. Workflow scripts only call these.

A job reads the settings its rule passes as params (``sagr.config.stage_settings``, the rerun
trigger) and how to run (``sagr.config.execution``: device, threads, progress, data root, GPU and
checkpoint settings), never the whole config: what triggers a rerun is what the job uses.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import cache, divergence, models
from .checkpoint import remove as remove_checkpoint
from .config import method_hparams
from .files import keep_previous_set, previous_path, read_json, write_json
from .job_records import Identity, SaliencyRecord, TrainRecord
from .provenance import device_name, provenance, resolve_device
from .robustness.io import write_npz
from .runs import decode_run
from .subsets import subset_indices
from .train import CheckpointPolicy, Validation, accuracy, fit

log = logging.getLogger("sagr")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _setup(execution: dict[str, Any], seed: int) -> torch.device:
    torch.set_num_threads(execution["threads"])
    torch.manual_seed(seed)
    np.random.seed(seed)
    device = resolve_device(execution["device"])
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = execution["cuda"]["cudnn_benchmark"]
    return device


def _identity(dataset: str, run_name: str) -> dict[str, Any]:
    run = decode_run(run_name)
    return {"dataset": dataset, "run": run_name, "method": run.method, "seed": run.seed, "hparams": run.hp}


def fetch_dataset_job(data_settings: dict[str, Any], dataset: str, out_marker: Path) -> None:
    """Make the dataset's raw files exist (download, or the MD5-checked mirror); ``data_settings``
    is the config's ``data`` section (root, mirror)."""
    from . import data

    started = time.time()
    root = Path(data_settings["root"])
    source = data.prepare_dataset(dataset, root, data.mirror_from_env(data_settings["mirror"]))
    files = cache.write_cache(root, dataset)  # fails here, not in 30 jobs, if the files are unreadable
    write_json(
        out_marker,
        {
            "dataset": dataset,
            "root": str(root),
            "source": source,
            # False only for stand-in files the user allowed (SAGR_ALLOW_UNOFFICIAL_DATA): never results.
            "official": not data.unofficial_files(dataset, root),
            "cache": [str(f) for f in files],
            "provenance": provenance(
                "fetch_dataset", {"data": data_settings}, None, torch.device("cpu"), started, time.time()
            ),
        },
    )


def model_spec(root: str | Path, dataset: str, arch: str) -> dict[str, Any]:
    """What load_model needs to rebuild the network, plus the dataset it was trained on."""
    info = cache.facts(Path(root), dataset)
    return {
        "arch": arch,
        "n_classes": info["n_classes"],
        "in_channels": info["in_channels"],
        "image_size": info["image_size"],
        "mean": info["mean"],
        "std": info["std"],
        "dataset": dataset,
    }


def _build(root: str | Path, dataset: str, arch: str) -> torch.nn.Module:
    spec = model_spec(root, dataset, arch)
    return models.build_model(
        arch, spec["n_classes"], spec["in_channels"], spec["image_size"], spec["mean"], spec["std"]
    )


def _root(execution: dict[str, Any]) -> Path:
    return Path(execution["data_root"])


def _made_by(settings: dict[str, Any], execution: dict[str, Any]) -> dict[str, Any]:
    """The provenance's ``config``: the settings the job read and how it ran."""
    return {"settings": settings, "execution": execution}


def train_job(
    settings: dict[str, Any],
    execution: dict[str, Any],
    dataset: str,
    run_name: str,
    out_model: Path,
    out_json: Path,
) -> dict[str, Any]:
    """Train one (dataset, run) with the dataset's training ``settings``; save the weights and the record.

    Resumes from the run's checkpoint (``checkpoint.dir``, outside the declared outputs so that
    Snakemake never deletes it as an incomplete output) when an earlier attempt was interrupted.
    """
    started = time.time()
    ident = _identity(dataset, run_name)
    device = _setup(execution, ident["seed"])
    root = _root(execution)
    x, y = cache.load(root, dataset, train=True)
    val = None
    vcfg = settings["validation"]
    if vcfg:
        # Held out before train_subset, with its own seed: the same images for every run and seed.
        perm = subset_indices(len(x), None, seed=vcfg["seed"])
        held, rest = np.sort(perm[: vcfg["n"]]), np.sort(perm[vcfg["n"] :])
        xv, yv = x[held], y[held]
        x, y = x[rest], y[rest]
        val = Validation(
            xv,
            yv,
            eps=settings["train_eps"] if vcfg["eps"] is None else vcfg["eps"],
            steps=vcfg["pgd_steps"],
            alpha_over_eps=vcfg["pgd_alpha_over_eps"],
            every=vcfg["every"],
            seed=vcfg["seed"],
            batch_size=settings["eval_batch_size"],
            select_best=vcfg["select"] == "best",
        )
    if settings["train_subset"]:
        idx = subset_indices(len(x), settings["train_subset"], seed=0)  # same data for every seed
        x, y = x[idx], y[idx]
    torch.manual_seed(ident["seed"])
    model = _build(root, dataset, settings["arch"])
    if device.type == "cuda" and execution["cuda"]["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
    hp = method_hparams(settings, ident["method"], ident["hparams"])
    ckpt = checkpoint_policy(settings, execution, dataset, run_name)
    attempts = _keep_attempt_logs(ckpt.path) if ckpt is not None else None
    t0 = time.perf_counter()
    try:
        result = fit(
            model,
            x,
            y,
            ident["method"],
            hp,
            settings["epochs"],
            settings["batch_size"],
            settings["optimizer"],
            ident["seed"],
            device,
            progress=execution["progress"],
            eps_ramp=settings["eps_ramp"],
            augment=tuple(settings["augment"]),
            crop_padding=settings["crop_padding"],
            validation=val,
            checkpoint=ckpt,
            # The whole training set on the GPU once (CIFAR-10 float32: 600 MB), when asked.
            data_on_device=device.type == "cuda" and execution["cuda"]["data_on_device"],
        )
        history, failure = result.history, None
    except FloatingPointError as err:  # non-finite loss: keep the record, mark the run diverged
        result, history, failure = None, [], f"{dataset} {run_name}: {err}"
    # Over every attempt: one resumed from a checkpoint adds the interrupted ones' time up to it.
    train_time = result.elapsed_s if result is not None else time.perf_counter() - t0
    status = divergence.judge(
        settings["divergence"],
        cache.facts(root, dataset)["n_classes"],
        settings["eval_batch_size"],
        f"{dataset} {run_name}",
        history,
        failure,
        model,
        x,
        y,
        device,
    )
    xt, yt = cache.load(root, dataset, train=False)
    test_acc = accuracy(model, xt, yt, settings["eval_batch_size"], device)
    log.info("%s %s: test accuracy %.4f after %.1fs", dataset, run_name, test_acc, train_time)
    models.save_model(out_model, model.cpu(), model_spec(root, dataset, settings["arch"]))
    validated = val is not None and result is not None
    record = TrainRecord(
        identity=Identity.from_json(ident),
        training_hparams=hp,
        epochs=settings["epochs"],
        n_train=len(x),
        history=history,
        train_wall_time_s=round(train_time, 3),
        test_accuracy=test_acc,
        n_test=len(xt),
        **status,
        provenance=provenance(
            "train_model", _made_by(settings, execution), ident["seed"], device, started, time.time()
        ),
        n_val=len(val.x) if validated else None,
        val_history=result.val_history if validated else (),
        best_epoch=result.best_epoch if validated else None,
        resumed_from=result.resumed_from if result is not None else None,
    )
    result_json = record.to_json()
    write_json(out_json, result_json)
    if attempts is not None:  # finished: no earlier attempt for a later rerun to show
        logging.getLogger().removeHandler(attempts)
        attempts.close()
        Path(attempts.baseFilename).unlink(missing_ok=True)
    if ckpt is not None and not execution["checkpoint"]["keep"]:
        remove_checkpoint(ckpt.path)
    return result_json


def _keep_attempt_logs(checkpoint_path: Path) -> logging.Handler:
    """Keep every attempt's log: Snakemake deletes a job's log when it reruns it, so a job resumed
    from a checkpoint would lose the interrupted attempt's lines. They are also written beside the
    checkpoint (removed with it), and a new attempt's log starts with those of the earlier ones."""
    import sys

    from .checkpoint import attempts_log

    kept = attempts_log(checkpoint_path)
    if kept.is_file():
        sys.stderr.write(
            f"--- earlier attempts of this job, interrupted (kept in {kept}) ---\n"
            f"{kept.read_text(errors='replace')}--- this attempt ---\n"
        )
    kept.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(kept)  # appends
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.getLogger().addHandler(handler)
    return handler


def checkpoint_policy(
    settings: dict[str, Any], execution: dict[str, Any], dataset: str, run_name: str
) -> CheckpointPolicy | None:
    """Where this run checkpoints and the identity a checkpoint must carry to be resumed from."""
    ccfg = execution["checkpoint"]
    if not ccfg["enabled"]:
        return None
    identity = {
        "dataset": dataset,
        "run": run_name,
        "arch": settings["arch"],
        # The rule's params: a checkpoint made under other training settings is not resumed from.
        "train_settings": json.dumps(settings, sort_keys=True),
    }
    path = Path(ccfg["dir"]) / dataset / run_name / "train.pt"
    return CheckpointPolicy(
        path, identity, every_epochs=ccfg["every_epochs"], every_minutes=ccfg["every_minutes"]
    )


def eval_points(
    settings: dict[str, Any], root: str | Path, dataset: str
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """The fixed, seeded test subset every model of a dataset is evaluated on."""
    xt, yt = cache.load(Path(root), dataset, train=False)
    idx = subset_indices(len(xt), settings["eval_subset"], seed=settings["eval_seed"])
    return xt[idx], yt[idx], idx


def _trained_model_on_eval_points(
    settings: dict[str, Any],
    execution: dict[str, Any],
    dataset: str,
    run_name: str,
    model_path: Path,
    model: torch.nn.Module | None = None,
    identity: dict[str, Any] | None = None,
):
    """What evaluation and saliency jobs share: the run's identity, device, model, points.

    `model` / `identity` replace the checkpoint and the run-name identity (`sagr evaluate` on any model).
    """
    ident = identity or _identity(dataset, run_name)
    device = _setup(execution, ident["seed"])
    model = (model if model is not None else models.load_model(model_path)).to(device).eval()
    return ident, device, model, eval_points(settings, _root(execution), dataset)


def evaluate_job(
    settings: dict[str, Any],
    execution: dict[str, Any],
    dataset: str,
    run_name: str,
    model_path: Path,
    out_json: Path,
    out_correct: Path,
    model: torch.nn.Module | None = None,
    identity: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the attack suite on one model; save per-attack records, the per-ε worst case, the masking checks,
    AutoAttack's checks on the model (run first; a model in training mode is refused), the
    torchattacks-vs-reference AutoAttack comparison and the per-example correctness (correct.npz).

    ``settings``: the dataset's evaluation settings and ``suite``, ``[name, spec]`` pairs in the
    order the attacks run (``sagr.config.attack_suite``).
    """
    from .masking import table_masking_checks
    from .model_checks import model_checks
    from .robustness import MaskingCheck, ModelResult
    from .robustness.io import write_result
    from .robustness.runner import run_suite

    started = time.time()
    made_by = _made_by(settings, execution)
    if model is None and _diverged(
        made_by, dataset, run_name, model_path, "evaluate_model", out_json, out_correct
    ):
        return read_json(out_json)
    ident, device, model, (x, y, idx) = _trained_model_on_eval_points(
        settings, execution, dataset, run_name, model_path, model, identity
    )
    suite = dict(settings["suite"])  # in run order: the cascade runs cheap to expensive as written
    n_classes = cache.facts(_root(execution), dataset)["n_classes"]
    # AutoAttack's checks on the model, before any attack: a model left in training mode is refused here
    name = f"{ident['dataset']}/{ident['run']} ({ident.get('checkpoint') or model_path})"
    checked = model_checks(model, x, y, name, device)
    for c in checked:
        level, outcome = (logging.INFO, "passed") if c.passed else (logging.WARNING, "FAILED")
        log.log(level, "model check %s %s: %s", c.check, outcome, c.detail)
    saved = _saved_steps(settings, execution, dataset, run_name, model, x, y, idx)
    table = run_suite(
        model,
        x,
        y,
        suite,
        eps_linf=list(settings["eps"]),
        eps_l2=list(settings["eps_l2"]),
        n_classes=n_classes,
        batch_size=settings["eval_batch_size"],
        seed=settings["eval_seed"],
        device=device,
        progress=execution["progress"],
        saved=saved,
    )
    result = ModelResult(
        **{k: ident[k] for k in ("dataset", "run", "method", "seed", "hparams")},
        checkpoint=ident.get("checkpoint"),
        n_eval=len(x),
        eval_seed=settings["eval_seed"],
        records=table.records,
        worst_case=[w for w, _ in table.worst_case()],
        masking=[MaskingCheck(**m) for m in table_masking_checks(table, n_classes)],
        model_checks=checked,
        reference=table.reference_comparison(),
        provenance=provenance("evaluate_model", made_by, ident["seed"], device, started, time.time()),
    )
    write_result(result, out_json, out_correct, table.npz_arrays(idx))
    if saved is not None:  # finished: nothing left to resume
        saved.remove()
    return result.to_json()


def _saved_steps(
    settings: dict[str, Any],
    execution: dict[str, Any],
    dataset: str,
    run_name: str,
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    idx: np.ndarray,
):
    """Where this evaluation saves each finished attack × ε, beside the run's training checkpoint
    (outside the declared outputs, which Snakemake deletes), so that a killed job resumes."""
    from .robustness.resume import SavedSteps, evaluation_key

    ccfg = execution["checkpoint"]
    if not ccfg["enabled"]:
        return None
    path = Path(ccfg["dir"]) / dataset / run_name / "evaluate.pt"
    return SavedSteps(path, evaluation_key(model, settings, x, y, idx))


def saliency_job(
    settings: dict[str, Any],
    execution: dict[str, Any],
    dataset: str,
    run_name: str,
    model_path: Path,
    out_json: Path,
    out_maps: Path,
) -> dict[str, Any]:
    """Saliency maps of one model on the evaluation subset, their metrics and the figure images."""
    from .saliency import input_gradients, saliency_map, saliency_metrics, summarize

    started = time.time()
    made_by = _made_by(settings, execution)
    if _diverged(made_by, dataset, run_name, model_path, "saliency_model", out_json, out_maps):
        return read_json(out_json)
    ident, device, model, (x, y, idx) = _trained_model_on_eval_points(
        settings, execution, dataset, run_name, model_path
    )
    n = min(settings["saliency_images"], len(x))
    x, y, idx = x[:n], y[:n], idx[:n]
    grads = input_gradients(model, x, y, settings["eval_batch_size"], device)
    values = saliency_metrics(x, grads, cache.facts(_root(execution), dataset)["dark_background"])
    k = min(settings["figure_images"], n)
    write_npz(
        out_maps,
        dict(
            images=x[:k].numpy(), maps=saliency_map(grads[:k]).numpy(), labels=y[:k].numpy(), indices=idx[:k]
        ),
    )
    result = SaliencyRecord(
        identity=Identity.from_json(ident),
        n_images=n,
        metrics=summarize(values),
        provenance=provenance("saliency_model", made_by, ident["seed"], device, started, time.time()),
    ).to_json()
    write_json(out_json, result)
    return result


def _diverged(
    made_by: dict[str, Any],
    dataset: str,
    run_name: str,
    model_path: Path,
    job: str,
    out_json: Path,
    out_npz: Path,
) -> bool:
    """If the run diverged in training, write records saying so (no numbers) and return True."""
    started = time.time()
    train_json = Path(model_path).with_name("train.json")
    if not train_json.exists():  # a model from outside the pipeline (sagr evaluate): no training record
        return False
    note = divergence.diverged_record(TrainRecord.read(train_json))
    if note is None:
        return False
    log.error("%s %s: %s", dataset, run_name, note["note"])
    prov = provenance(job, made_by, None, torch.device("cpu"), started, time.time())
    if job == "evaluate_model":
        from .robustness import INDICES, ModelResult
        from .robustness.io import write_result

        result = ModelResult(
            **_identity(dataset, run_name), n_eval=0, records=[], worst_case=[], masking=[], reference=None,
            provenance=prov, status=note["status"], diverged_reason=note["diverged_reason"], note=note["note"],
        )  # fmt: skip
        write_result(result, out_json, out_npz, {INDICES: np.zeros(0, dtype=np.int64)})
        return True
    write_npz(out_npz, {"indices": np.zeros(0, dtype=np.int64)})
    record = SaliencyRecord(Identity.from_json(_identity(dataset, run_name)), 0, {}, prov, **note)
    write_json(out_json, record.to_json())
    return True


def redirect_log(path: str | Path, stage: str | None = None, context: dict[str, Any] | None = None) -> None:
    """Send this job's stderr (logging, warnings) to the rule's log file.

    A job that dies ends its log with one line naming the stage and the wildcards (dataset,
    run), after the traceback, so `tail -1` on any log says what failed where.
    """
    import sys
    import traceback

    sys.stderr = open(path, "w", buffering=1)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format=LOG_FORMAT, force=True)
    where = ", ".join(f"{k} {v}" for k, v in (context or {}).items())
    label = f"{stage or 'job'}" + (f" ({where})" if where else "")
    log.info("start %s", label)

    def hook(exc_type, exc, tb) -> None:
        traceback.print_exception(exc_type, exc, tb, file=sys.stderr)
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        sys.stderr.write(f"FAILED {label}: {exc_type.__name__}: {message}\n")
        sys.stderr.flush()

    sys.excepthook = hook


def benchmark_job(
    settings: dict[str, Any],
    execution: dict[str, Any],
    out_json: Path,
    reference: Sequence[str | Path] = (),
) -> dict[str, Any]:
    """Time a training step of every configured method on the benchmark dataset's model
    (``settings`` from ``sagr.config.benchmark_settings``).

    ``reference``: committed benchmarks/bench_methods.py results (other architectures or
    devices; the rule's input files), shown beside this run's measurement; each of their rows
    names its file.
    """
    from .benchmark import benchmark, estimator_noise, format_noise, format_table, measured_on

    started = time.time()
    bcfg = settings["benchmark"]
    dataset, arch = bcfg["dataset"], settings["arch"]
    device = _setup(execution, 0)
    root = _root(execution)
    x, y = cache.load(root, dataset, train=True)
    x, y = x[: bcfg["batch_size"]].to(device), y[: bcfg["batch_size"]].to(device)
    methods = {m: method_hparams(settings, m, hp) for m, hp in settings["methods"].items()}
    rows = benchmark(lambda: _build(root, dataset, arch), x, y, methods, bcfg["steps"], bcfg["warmup"])
    log.info("step cost on %s (%s, batch %d):\n%s", dataset, arch, len(x), format_table(rows))
    draws = bcfg["noise_draws"]
    noise = (
        estimator_noise(
            _build(root, dataset, arch).to(device),
            x,
            y,
            draws=draws,
            generator=torch.Generator().manual_seed(0),
        )
        if draws
        else []
    )
    if noise:
        log.info("noise of one draw of each random estimator:\n%s", format_noise(noise))
    own = {
        "dataset": dataset,
        "arch": arch,
        "device": device_name(device),
        "device_type": device.type,
        "batch_size": len(x),
        "threads": torch.get_num_threads(),
        "steps": bcfg["steps"],
        "warmup": bcfg["warmup"],
        "goals": {f"{r['method']}/{r['variant']}": r["goal"] for r in rows if isinstance(r["goal"], float)},
        "provenance": provenance(
            "benchmark_cost", _made_by(settings, execution), 0, device, started, time.time()
        ),
    }
    rows, noise = measured_on({**own, "rows": rows, "noise": noise})
    for path in reference:
        # A committed reference (git vouches for it), not a file this pipeline wrote.
        ref = read_json(Path(path), brought=True)
        more_rows, more_noise = measured_on(ref, _repo_relative(Path(path)))
        rows += more_rows
        noise += more_noise
    result = {**own, "rows": rows, "noise": noise}
    write_json(out_json, result)
    return result


def _repo_relative(path: Path) -> str:
    """A committed file's path relative to the checkout (as the config names it), else as given."""
    repo = Path(__file__).resolve().parents[2]
    try:
        return path.resolve().relative_to(repo).as_posix()
    except ValueError:
        return str(path)


def report_job(
    settings: dict[str, Any],
    manifest: list[dict[str, Any]],
    inputs: dict[str, list[str]],
    out_html: Path,
    out_tex: Path,
    summary_dir: Path,
    fig_dir: Path,
) -> None:
    """Tables (CSV), figures, report/index.html and report/report.tex: every path the rule's; ``settings``:
    the rule's (`sagr.config.report_settings`), the only settings the report reads besides the results."""
    from .report import build_report

    benchmark = inputs.get("benchmark") or []
    outputs = [Path(out_html), Path(out_tex), Path(summary_dir), Path(fig_dir)]
    try:
        build_report(
            manifest,
            inputs,
            settings,
            Path(out_html),
            Path(out_tex),
            summary_dir=Path(summary_dir),
            fig_dir=Path(fig_dir),
            departures=settings["departures"],
            benchmark=Path(benchmark[0]) if benchmark else None,
        )
    except Exception:
        # Snakemake has already deleted the old outputs: say where the last good ones are.
        kept = [str(k) for k in map(previous_path, outputs) if k is not None and k.exists()]
        if kept:
            log.error("the new report failed; the last good report is kept: %s", ", ".join(kept))
        raise
    keep_previous_set(outputs)


def pdf_job(tex: Path, out_pdf: Path) -> None:
    """report.tex (and its figures) -> report.pdf with latexmk; the LaTeX log's tail on failure."""
    from .latex import compile_pdf

    started = time.perf_counter()
    pdf = compile_pdf(Path(tex), Path(out_pdf))
    log.info("wrote %s in %.1fs", pdf, time.perf_counter() - started)
