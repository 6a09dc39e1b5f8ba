"""Config checks JSON schema cannot express, each naming the key path and the allowed range.

Called by ``sagr.config.load`` before Snakemake builds the DAG; free of torch (the Snakefile
imports this at parse time):
  * ``check_raw``, before the schema: non-finite numbers (``.nan``/``.inf`` satisfy a schema
    ``minimum``) and numbers YAML read as strings (``1e8``);
  * ``check_values``, on the validated config (defaults filled): subsets larger than the split
    they are drawn from, duplicate seeds/ε/sweep values, budget lists an attack needs but are empty;
  * ``read_config_file``: a YAML syntax error names the file, line and column;
  * ``check_device``, when the jobs will run on this machine: ``device: cuda`` without a GPU here.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .attack_kinds import L2_KINDS  # kinds whose ε are L2 radii: "all"/"largest" resolve against eps_l2
from .files import read_json
from .registry import DATASETS

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


class ConfigError(ValueError):
    """A config value is wrong; the message starts with its key path."""


def key_path(parts: Iterable[Any]) -> str:
    """``datasets.mnist.eps[1]`` from ("datasets", "mnist", "eps", 1)."""
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "<top level>"


def _walk(obj: Any, path: tuple = ()) -> Iterable[tuple[tuple, Any]]:
    yield path, obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk(v, path + (k,))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _walk(v, path + (i,))


def check_raw(config: dict[str, Any]) -> None:
    """Non-finite numbers and numbers written as strings, anywhere in the config."""
    for path, value in _walk(config):
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{key_path(path)}: {value} is not allowed; every number must be finite")
        if isinstance(value, str) and _NUMBER.match(value.strip()):
            hint = _yaml_number(value.strip())
            raise ConfigError(
                f"{key_path(path)}: {value!r} is a string, not a number (YAML reads a number "
                f"in exponent notation only with a dot and a signed exponent); write {hint}"
            )


def _yaml_number(text: str) -> str:
    """How to write ``text`` so that YAML 1.1 (PyYAML) reads a float: a dot and a signed exponent."""
    mantissa, _, exponent = text.lower().partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    if exponent and exponent[0] not in "+-":
        exponent = "+" + exponent
    return mantissa + (f"e{exponent}" if exponent else "")


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Load a YAML config; a syntax error names the file, line and column."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: YAML syntax error: {err.problem or err}") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the config file ({err.strerror})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a mapping of keys at the top level")
    return data


def split_sizes(config: dict[str, Any], dataset: str) -> dict[str, int]:
    """Images per split: the cache's info JSON if written (n_train/n_test; a tiny stand-in dataset
    may be smaller), else the dataset's registry entry; empty for a dataset the registry lacks."""
    entry = DATASETS.get(dataset)
    sizes = {"train": entry.n_train, "test": entry.n_test} if entry else {}
    info = Path(config.get("data", {}).get("root", "data")) / "cache" / f"{dataset}-info.json"
    try:
        facts = read_json(info)
        sizes.update({s: int(facts[f"n_{s}"]) for s in ("train", "test") if f"n_{s}" in facts})
    except (OSError, ValueError, TypeError):
        # No cache yet, or a damaged one: the table holds here (the parse must not fail, or the
        # command that rebuilds the cache could not run); the job that reads it names the damage.
        pass
    return sizes


def _no_duplicates(values: list, where: str) -> None:
    seen: set = set()
    for v in values:
        key = (
            round(float(v), 12) if isinstance(v, (int, float)) and not isinstance(v, bool) else json.dumps(v)
        )
        if key in seen:
            raise ConfigError(
                f"{where}: {v!r} appears more than once; values must be distinct "
                "(a duplicate would be silently merged into one result)"
            )
        seen.add(key)


def _at_most(value: Any, limit: int, where: str, what: str) -> None:
    if value is not None and value > limit:
        raise ConfigError(f"{where}: {value} is larger than {what}; allowed range 1..{limit}")


def check_values(config: dict[str, Any]) -> None:
    """Cross-key value checks on the validated config (defaults filled in)."""
    _no_duplicates(config.get("seeds", []), "seeds")
    ablation = config.get("ablation") or {}
    _no_duplicates(ablation.get("seeds", []), "ablation.seeds")
    for method, sweeps in (ablation.get("sweeps") or {}).items():
        for param, values in (sweeps or {}).items():
            _no_duplicates(values, f"ablation.sweeps.{method}.{param}")
    for name, spec in config.get("attacks", {}).items():
        if isinstance(spec.get("budgets"), list):
            _no_duplicates(spec["budgets"], f"attacks.{name}.budgets")
    for dataset, dcfg in config.get("datasets", {}).items():
        where = f"datasets.{dataset}"
        _no_duplicates(dcfg.get("eps", []), f"{where}.eps")
        _no_duplicates(dcfg.get("eps_l2", []), f"{where}.eps_l2")
        sizes = split_sizes(config, dataset)
        if "train" in sizes:
            _at_most(
                dcfg.get("train_subset"),
                sizes["train"],
                f"{where}.train_subset",
                f"the {dataset} training split ({sizes['train']} images)",
            )
        n_eval = sizes.get("test")
        if n_eval is not None:
            _at_most(
                dcfg.get("eval_subset"),
                n_eval,
                f"{where}.eval_subset",
                f"the {dataset} test split ({n_eval} images)",
            )
            n_eval = dcfg.get("eval_subset") or n_eval
            _at_most(
                dcfg.get("saliency_images"),
                n_eval,
                f"{where}.saliency_images",
                f"the evaluation set of {dataset} ({n_eval} images, eval_subset)",
            )
        _at_most(
            dcfg.get("figure_images"),
            dcfg.get("saliency_images") or math.inf,
            f"{where}.figure_images",
            f"saliency_images ({dcfg.get('saliency_images')})",
        )
        for name, spec in config.get("attacks", {}).items():
            if n_eval is not None:
                _at_most(
                    spec.get("subset"),
                    n_eval,
                    f"attacks.{name}.subset",
                    f"the evaluation set of {dataset} ({n_eval} images, {where}.eval_subset)",
                )
            budgets = spec.get("budgets")
            l2 = budgets == "l2" or (spec.get("kind") in L2_KINDS and budgets in ("all", "largest"))
            if l2 and not dcfg.get("eps_l2"):
                raise ConfigError(
                    f"{where}.eps_l2: empty, but attacks.{name} (kind {spec.get('kind')!r}, budgets "
                    f"{budgets!r}) needs at least one L2 budget; list one (e.g. eps_l2: [1.0]) or drop the attack"
                )
            if budgets in ("all", "largest") and spec.get("kind") not in L2_KINDS and not dcfg.get("eps"):
                raise ConfigError(f"{where}.eps: empty, but attacks.{name} needs at least one L-inf budget")


def check_device(config: dict[str, Any], dev: Path = Path("/dev")) -> None:
    """``device: cuda[:N]`` needs a GPU on the machine the jobs run on: without one, say so before any
    job starts (the first job used to fail). Called only when Snakemake runs the jobs here (not for a
    dry run, nor on a cluster's login node). Torch-free, like every parse-time check: the GPU is
    looked for as its driver's device files (NVIDIA: nvidia<N>; AMD ROCm, which torch.cuda also
    drives: kfd)."""
    device = str(config.get("device", "auto"))
    if not device.startswith("cuda"):
        return
    index = int(device.partition(":")[2] or 0)
    nvidia = sorted(int(p.name[6:]) for p in dev.glob("nvidia[0-9]*"))
    if index in nvidia or (dev / "kfd").exists():
        return
    found = f"GPUs {nvidia}" if nvidia else "no GPU (no NVIDIA or ROCm device under /dev)"
    raise ConfigError(
        f"device: {device!r} but this machine, where the jobs would run, has {found}; "
        "use device: auto (CUDA when present, else CPU) or cpu, or run on a machine or cluster with a GPU"
    )
