"""Our attack suite and masking checks on any model: a checkpoint, or any nn.Module from Python.

This is the pipeline's own evaluate job (`sagr.jobs.evaluate_job`) with the model and its
identity supplied by the caller, so the files it writes (robustness.json, correct.npz) are
the pipeline's, numbers included. ``sagr.evaluate(model, "mnist")`` in Python;
``sagr evaluate CHECKPOINT --dataset mnist`` on the command line.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = Path("config") / "config.yaml"


def load_config(path: str | Path | None = None) -> dict[str, Any]:
    """The workflow config from YAML, schema-validated with its defaults filled and cross-checked."""
    path = Path(path) if path is not None else DEFAULT_CONFIG
    if not path.is_file():
        raise FileNotFoundError(
            f"config file {path} not found (pass --config FILE; the repository's "
            f"config/config.yaml is the default when run from its root)"
        )
    from .config import load

    return load(path)  # the Snakefile's own loader: schema defaults and cross-checks


def _ensure_data(config: dict[str, Any], dataset: str, out_dir: Path) -> None:
    """The dataset's tensor cache, made by the pipeline's fetch job if it is not there yet."""
    from . import cache, jobs

    root = Path(config["data"]["root"])
    if not (cache.info_path(root, dataset).is_file() and cache.split_path(root, dataset, "test").is_file()):
        jobs.fetch_dataset_job(config["data"], dataset, out_dir / f"data-{dataset}.json")


def evaluate(
    model: Any,
    dataset: str,
    config: dict[str, Any] | str | Path | None = None,
    out_dir: str | Path = "evaluation",
    attacks: list[str] | None = None,
    name: str = "model",
    seed: int = 0,
    checkpoint: str | None = None,
) -> dict[str, Any]:
    """Run the configured attack suite and masking checks on `model`; write the pipeline's files.

    `model`: a torch.nn.Module taking inputs in [0, 1] (normalisation inside the model) and
    returning logits, or a path to a checkpoint `sagr.load_model` reads. `dataset` names a
    dataset of the config; its evaluation subset, budgets and attack settings are the
    pipeline's. `seed` seeds torch as the pipeline's run of that seed does (random starts).
    Writes `out_dir/robustness.json` and `out_dir/correct.npz`; returns the robustness record.
    """
    from . import jobs, models
    from .config import attack_suite, execution, job_settings, load

    # A mapping is loaded too (a copy: the caller's stays as it was), so its defaults are the schema's.
    config = load(copy.deepcopy(config)) if isinstance(config, dict) else load_config(config)
    if dataset not in config["datasets"]:
        raise ValueError(f"dataset {dataset!r} is not in the config's datasets {sorted(config['datasets'])}")
    # What the evaluate rule passes: the dataset's evaluation settings and the suite in config order,
    # whatever order `attacks` lists them in, so the records and worst case are the pipeline's.
    settings = job_settings(config, dataset, "evaluate", suite=attack_suite(config, attacks))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if isinstance(model, (str, Path)):
        checkpoint = checkpoint or str(model)
        # The user's own file: verified if it carries the pipeline's hash record, else read as brought.
        model = models.load_model(Path(model), brought=True)
    _ensure_data(config, dataset, out_dir)
    _check_output_shape(model, config, dataset)
    identity = {
        "dataset": dataset,
        "run": name,
        "method": "external",
        "seed": int(seed),
        "hparams": {},
        "checkpoint": checkpoint,
    }
    return jobs.evaluate_job(
        settings,
        execution(config),
        dataset,
        name,
        Path(checkpoint or "<module>"),
        out_dir / "robustness.json",
        out_dir / "correct.npz",
        model=model,
        identity=identity,
    )


def _check_output_shape(model: Any, config: dict[str, Any], dataset: str) -> None:
    """One clear error if the model does not map the dataset's images to one logit per class."""
    import torch

    from . import cache

    facts = cache.facts(Path(config["data"]["root"]), dataset)
    x = torch.zeros(1, facts["in_channels"], facts["image_size"], facts["image_size"])
    was_training = model.training
    model.eval()
    device = next(model.parameters(), torch.zeros(0)).device
    with torch.no_grad():
        out = model(x.to(device))
    model.train(was_training)
    if tuple(out.shape) != (1, facts["n_classes"]):
        raise ValueError(
            f"the model maps a {tuple(x.shape)} input in [0, 1] to shape {tuple(out.shape)}; "
            f"{dataset} needs (1, {facts['n_classes']}) logits"
        )
