# Targets and input functions, computed once from the validated config.
import json

from sagr.config import stage_settings
from sagr.runs import manifest, result_paths

MANIFEST = manifest(config)
MAIN_RUNS = {(e.dataset, e.run.name) for e in MANIFEST if e.main}


wildcard_constraints:
    dataset="|".join(config["datasets"]),
    run=r"[A-Za-z][A-Za-z0-9_.+\-]*",


def per_run(pattern):
    """Every run's file `pattern` ({dataset}, {run}) in the manifest."""
    return result_paths(MANIFEST, pattern)


def attacks_for(wildcards):
    """Full suite for the method comparison; the ablation subset for ablation-only runs."""
    if (wildcards.dataset, wildcards.run) in MAIN_RUNS or not config["ablation"].get("attacks"):
        return list(config["attacks"])
    return list(config["ablation"]["attacks"])


def data_cache(split):
    """The cached split and facts a job reads: declared, so that Snakemake sees them missing."""
    return multiext(f"{config['data']['root']}/cache/{{dataset}}", f"-{split}.pt", "-info.json")


def job_resources(runtime_factor=1):
    return dict(
        mem_mb=config["mem_mb"],
        runtime=config["runtime_min"] * runtime_factor,
        gpu=config["gpus_per_job"],
    )
