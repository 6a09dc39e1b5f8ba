"""One function per pipeline job: config in, result files out. Workflow scripts only call these."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import cache, divergence, models
from .checkpoint import remove as remove_checkpoint
from .config import method_hparams, stage_settings
from .files import atomic_path, read_json, write_json
from .provenance import device_name, provenance, resolve_device
from .runs import decode_run
from .subsets import subset_indices
from .train import CheckpointPolicy, Validation, accuracy, fit

log = logging.getLogger("sagr")


def _setup(config: dict[str, Any], seed: int) -> torch.device:
    torch.set_num_threads(int(config.get("threads", 1)))
    torch.manual_seed(seed)
    np.random.seed(seed)
    device = resolve_device(config.get("device", "auto"))
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = bool((config.get("cuda") or {}).get("cudnn_benchmark", True))
    return device


def _identity(dataset: str, run_name: str) -> dict[str, Any]:
    run = decode_run(run_name)
    return {"dataset": dataset, "run": run_name, "method": run.method, "seed": run.seed, "hparams": run.hp}


def fetch_dataset_job(config: dict[str, Any], dataset: str, out_marker: Path) -> None:
    """Make the dataset's raw files exist (download, or the MD5-checked mirror)."""
    from . import data

    started = time.time()
    root = Path(config["data"]["root"])
    source = data.prepare_dataset(dataset, root, data.mirror_from_env(config["data"].get("mirror")))
    files = cache.write_cache(root, dataset)  # fails here, not in 30 jobs, if the files are unreadable
    write_json(
        out_marker,
        {
            "dataset": dataset,
            "root": str(root),
            "source": source,
            "cache": [str(f) for f in files],
            "provenance": provenance(
                "fetch_dataset", config, None, torch.device("cpu"), started, time.time()
            ),
        },
    )


def model_spec(config: dict[str, Any], dataset: str, arch: str) -> dict[str, Any]:
    """What load_model needs to rebuild the network, plus the dataset it was trained on."""
    info = cache.facts(_root(config), dataset)
    return {
        "arch": arch,
        "n_classes": info["n_classes"],
        "in_channels": info["in_channels"],
        "image_size": info["image_size"],
        "mean": info["mean"],
        "std": info["std"],
        "dataset": dataset,
    }


def _build(config: dict[str, Any], dataset: str, arch: str) -> torch.nn.Module:
    spec = model_spec(config, dataset, arch)
    return models.build_model(
        arch, spec["n_classes"], spec["in_channels"], spec["image_size"], spec["mean"], spec["std"]
    )


def _root(config: dict[str, Any]) -> Path:
    return Path(config["data"]["root"])


def train_job(
    config: dict[str, Any], dataset: str, run_name: str, out_model: Path, out_json: Path
) -> dict[str, Any]:
    """Train one (dataset, run) and save the weights and the training record.

    Resumes from the run's checkpoint (``checkpoint.dir``, outside the declared outputs so that
    Snakemake never deletes it as an incomplete output) when an earlier attempt was interrupted.
    """
    started = time.time()
    ident = _identity(dataset, run_name)
    device = _setup(config, ident["seed"])
    dcfg = config["datasets"][dataset]
    x, y = cache.load(_root(config), dataset, train=True)
    val = None
    vcfg = dcfg.get("validation")
    if vcfg:
        # Held out before train_subset, with its own seed: the same images for every run and seed.
        perm = subset_indices(len(x), None, seed=vcfg.get("seed", 0))
        held, rest = np.sort(perm[: vcfg["n"]]), np.sort(perm[vcfg["n"] :])
        xv, yv = x[held], y[held]
        x, y = x[rest], y[rest]
        val = Validation(
            xv,
            yv,
            eps=vcfg.get("eps") or dcfg["train_eps"],
            steps=vcfg.get("pgd_steps", 10),
            alpha_over_eps=vcfg.get("pgd_alpha_over_eps", 0.25),
            every=vcfg.get("every", 1),
            seed=vcfg.get("seed", 0),
            batch_size=dcfg.get("eval_batch_size", 250),
        )
    if dcfg.get("train_subset"):
        idx = subset_indices(len(x), dcfg["train_subset"], seed=0)  # same data for every seed
        x, y = x[idx], y[idx]
    torch.manual_seed(ident["seed"])
    model = _build(config, dataset, dcfg["arch"])
    if device.type == "cuda" and (config.get("cuda") or {}).get("channels_last", True):
        model = model.to(memory_format=torch.channels_last)
    hp = method_hparams(config, dataset, ident["method"], ident["hparams"])
    ckpt = checkpoint_policy(config, dataset, run_name)
    t0 = time.perf_counter()
    try:
        result = fit(
            model,
            x,
            y,
            ident["method"],
            hp,
            dcfg["epochs"],
            dcfg["batch_size"],
            dcfg["optimizer"],
            ident["seed"],
            device,
            progress=config.get("progress", True),
            eps_ramp=dcfg.get("eps_ramp", 0.0),
            augment=tuple(dcfg.get("augment", ())),
            crop_padding=dcfg.get("crop_padding", 4),
            validation=val,
            checkpoint=ckpt,
            data_on_device=_data_on_device(config, device),
        )
        history, failure = result.history, None
    except FloatingPointError as err:  # non-finite loss: keep the record, mark the run diverged
        result, history, failure = None, [], f"{dataset} {run_name}: {err}"
    train_time = time.perf_counter() - t0
    status = divergence.judge(config, dataset, run_name, history, failure, model, x, y, device)
    xt, yt = cache.load(_root(config), dataset, train=False)
    test_acc = accuracy(model, xt, yt, dcfg.get("eval_batch_size", 250), device)
    log.info("%s %s: test accuracy %.4f after %.1fs", dataset, run_name, test_acc, train_time)
    models.save_model(out_model, model.cpu(), model_spec(config, dataset, dcfg["arch"]))
    record = {
        **ident,
        "training_hparams": hp,
        "epochs": dcfg["epochs"],
        "n_train": len(x),
        "history": history,
        "train_wall_time_s": round(train_time, 3),
        "test_accuracy": test_acc,
        **status,
        "provenance": provenance("train_model", config, ident["seed"], device, started, time.time()),
    }
    if val is not None and result is not None:
        record.update(n_val=len(val.x), val_history=result.val_history, best_epoch=result.best_epoch)
    if result is not None and result.resumed_from:
        record["resumed_from"] = result.resumed_from
    write_json(out_json, record)
    if ckpt is not None and not config.get("checkpoint", {}).get("keep", False):
        remove_checkpoint(ckpt.path)
    return record


def checkpoint_policy(config: dict[str, Any], dataset: str, run_name: str) -> CheckpointPolicy | None:
    """Where this run checkpoints and the identity a checkpoint must carry to be resumed from."""
    ccfg = config.get("checkpoint") or {}
    if not ccfg.get("enabled", True):
        return None
    dcfg = config["datasets"][dataset]
    identity = {
        "dataset": dataset,
        "run": run_name,
        "arch": dcfg["arch"],
        "train_settings": stage_settings(config, dataset, "train"),
    }
    path = Path(ccfg.get("dir", "checkpoints")) / dataset / run_name / "train.pt"
    return CheckpointPolicy(
        path, identity, every_epochs=ccfg.get("every_epochs", 1), every_minutes=ccfg.get("every_minutes")
    )


def _data_on_device(config: dict[str, Any], device: torch.device) -> bool:
    """Keep the training set on the GPU when asked (CIFAR-10 is 600 MB as float32)."""
    return device.type == "cuda" and bool((config.get("cuda") or {}).get("data_on_device", True))


def eval_points(config: dict[str, Any], dataset: str) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """The fixed, seeded test subset every model of a dataset is evaluated on."""
    dcfg = config["datasets"][dataset]
    xt, yt = cache.load(_root(config), dataset, train=False)
    idx = subset_indices(len(xt), dcfg.get("eval_subset"), seed=dcfg.get("eval_seed", 1234))
    return xt[idx], yt[idx], idx


def _trained_model_on_eval_points(
    config: dict[str, Any],
    dataset: str,
    run_name: str,
    model_path: Path,
    model: torch.nn.Module | None = None,
    identity: dict[str, Any] | None = None,
):
    """What evaluation and saliency jobs share: the run's identity, device, settings, model, points.

    `model` / `identity` replace the checkpoint and the run-name identity (`sagr evaluate` on any model).
    """
    ident = identity or _identity(dataset, run_name)
    device = _setup(config, ident["seed"])
    model = (model if model is not None else models.load_model(model_path)).to(device).eval()
    return ident, device, config["datasets"][dataset], model, eval_points(config, dataset)


def evaluate_job(
    config: dict[str, Any],
    dataset: str,
    run_name: str,
    attack_names: list[str],
    model_path: Path,
    out_json: Path,
    out_correct: Path,
    model: torch.nn.Module | None = None,
    identity: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the attack suite on one model; save per-attack records, the per-ε worst case, the masking checks,
    the torchattacks-vs-reference AutoAttack comparison and the per-example correctness (correct.npz)."""
    import pandas as pd

    from .attacks import describe_suite, reference_comparison, run_suite, worst_case
    from .masking import masking_checks

    started = time.time()
    if model is None and _diverged(
        config, dataset, run_name, model_path, "evaluate_model", out_json, out_correct
    ):
        return read_json(out_json)
    ident, device, dcfg, model, (x, y, idx) = _trained_model_on_eval_points(
        config, dataset, run_name, model_path, model, identity
    )
    # Config order, whatever order the caller lists them in: the cascade runs cheap to expensive as written.
    unknown = sorted(set(attack_names) - set(config["attacks"]))
    if unknown:
        raise ValueError(
            f"attacks {unknown} are not in the config's attacks section {sorted(config['attacks'])}"
        )
    suite = {name: spec for name, spec in config["attacks"].items() if name in set(attack_names)}
    n_classes = cache.facts(_root(config), dataset)["n_classes"]
    records, correct = run_suite(
        model,
        x,
        y,
        suite,
        eps_linf=list(dcfg["eps"]),
        eps_l2=list(dcfg.get("eps_l2", [])),
        n_classes=n_classes,
        batch_size=dcfg.get("eval_batch_size", 250),
        seed=dcfg.get("eval_seed", 1234),
        device=device,
        progress=config.get("progress", True),
    )
    worst, worst_arrays = worst_case(correct, records)
    result = {
        **ident,
        "n_eval": len(x),
        "eval_seed": dcfg.get("eval_seed", 1234),
        "records": records,
        "worst_case": worst,
        "masking": masking_checks(pd.DataFrame(records), correct, n_classes),
        "reference_autoattack": reference_comparison(correct, records),
        "autoattack_description": describe_suite(suite),
        "provenance": provenance("evaluate_model", config, ident["seed"], device, started, time.time()),
    }
    _save_npz(out_correct, indices=idx, **correct, **worst_arrays)
    write_json(out_json, result)
    return result


def saliency_job(
    config: dict[str, Any], dataset: str, run_name: str, model_path: Path, out_json: Path, out_maps: Path
) -> dict[str, Any]:
    """Saliency maps of one model on the evaluation subset, their metrics and the figure images."""
    from .saliency import input_gradients, saliency_map, saliency_metrics, summarize

    started = time.time()
    if _diverged(config, dataset, run_name, model_path, "saliency_model", out_json, out_maps):
        return read_json(out_json)
    ident, device, dcfg, model, (x, y, idx) = _trained_model_on_eval_points(
        config, dataset, run_name, model_path
    )
    n = min(dcfg.get("saliency_images", 500), len(x))
    x, y, idx = x[:n], y[:n], idx[:n]
    grads = input_gradients(model, x, y, dcfg.get("eval_batch_size", 250), device)
    values = saliency_metrics(x, grads, cache.facts(_root(config), dataset)["dark_background"])
    k = min(dcfg.get("figure_images", 8), n)
    _save_npz(
        out_maps,
        images=x[:k].numpy(),
        maps=saliency_map(grads[:k]).numpy(),
        labels=y[:k].numpy(),
        indices=idx[:k],
    )
    result = {
        **ident,
        "n_images": n,
        "metrics": summarize(values),
        "provenance": provenance("saliency_model", config, ident["seed"], device, started, time.time()),
    }
    write_json(out_json, result)
    return result


def _diverged(
    config: dict[str, Any],
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
    note = divergence.diverged_record(read_json(train_json))
    if note is None:
        return False
    log.error("%s %s: %s", dataset, run_name, note["note"])
    _save_npz(out_npz, indices=np.zeros(0, dtype=np.int64))
    write_json(
        out_json,
        {
            **_identity(dataset, run_name),
            **note,
            "n_eval": 0,
            "n_images": 0,
            "records": [],
            "worst_case": [],
            "masking": [],
            "metrics": {},
            "provenance": provenance(job, config, None, torch.device("cpu"), started, time.time()),
        },
    )
    return True


def _save_npz(path: Path, **arrays: Any) -> None:
    """np.savez through a temporary name, so a crash never leaves a truncated file."""
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **{k: np.asarray(v) for k, v in arrays.items()})


def redirect_log(path: str | Path, stage: str | None = None, context: dict[str, Any] | None = None) -> None:
    """Send this job's stderr (logging, warnings) to the rule's log file.

    A job that dies ends its log with one line naming the stage and the wildcards (dataset,
    run), after the traceback, so `tail -1` on any log says what failed where.
    """
    import sys
    import traceback

    sys.stderr = open(path, "w", buffering=1)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
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
    config: dict[str, Any], out_json: Path, reference: Sequence[str | Path] = ()
) -> dict[str, Any]:
    """Time a training step of every configured method on the benchmark dataset's model.

    ``reference``: committed benchmarks/bench_methods.py results (other architectures or
    devices), shown beside this run's measurement; each of their rows names its file.
    """
    from .benchmark import benchmark, estimator_noise, format_noise, format_table, measured_on

    started = time.time()
    bcfg = config["benchmark"]
    dataset = bcfg["dataset"]
    dcfg = config["datasets"][dataset]
    device = _setup(config, 0)
    x, y = cache.load(_root(config), dataset, train=True)
    x, y = x[: bcfg["batch_size"]].to(device), y[: bcfg["batch_size"]].to(device)
    methods = {m: method_hparams(config, dataset, m, hp) for m, hp in config["methods"].items()}
    rows = benchmark(
        lambda: _build(config, dataset, dcfg["arch"]), x, y, methods, bcfg["steps"], bcfg["warmup"]
    )
    log.info("step cost on %s (%s, batch %d):\n%s", dataset, dcfg["arch"], len(x), format_table(rows))
    draws = int(bcfg.get("noise_draws", 20))
    noise = (
        estimator_noise(
            _build(config, dataset, dcfg["arch"]).to(device),
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
        "arch": dcfg["arch"],
        "device": device_name(device),
        "device_type": device.type,
        "batch_size": len(x),
        "threads": torch.get_num_threads(),
        "steps": bcfg["steps"],
        "warmup": bcfg["warmup"],
        "goals": {f"{r['method']}/{r['variant']}": r["goal"] for r in rows if isinstance(r["goal"], float)},
        "provenance": provenance("benchmark_cost", config, 0, device, started, time.time()),
    }
    rows, noise = measured_on({**own, "rows": rows, "noise": noise})
    for path in reference:
        more_rows, more_noise = measured_on(read_json(Path(path)), _repo_relative(Path(path)))
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
    config: dict[str, Any],
    manifest: list[dict[str, Any]],
    inputs: dict[str, list[str]],
    out_html: Path,
    out_tex: Path,
    summary_dir: Path,
) -> None:
    """Tables (CSV), figures, report/index.html and report/report.tex from the rule's input files."""
    from .departures import departures
    from .report import build_report

    benchmark = inputs.get("benchmark") or []
    build_report(
        manifest,
        inputs,
        config,
        Path(out_html),
        Path(out_tex),
        summary_dir=Path(summary_dir),
        departures=departures(config),
        benchmark=Path(benchmark[0]) if benchmark else None,
    )


def pdf_job(tex: Path, out_pdf: Path) -> None:
    """report.tex (and its figures) -> report.pdf with latexmk; the LaTeX log's tail on failure."""
    from .latex import compile_pdf

    started = time.perf_counter()
    pdf = compile_pdf(Path(tex), Path(out_pdf))
    log.info("wrote %s in %.1fs", pdf, time.perf_counter() - started)
