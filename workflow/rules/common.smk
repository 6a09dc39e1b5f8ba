# Targets and input functions, computed once from the validated config.
import json

from sagr.config import stage_settings
from sagr.runs import manifest, result_paths

MANIFEST = manifest(config)


wildcard_constraints:
    dataset="|".join(config["datasets"]),
    run=r"[A-Za-z][A-Za-z0-9_.+\-]*",


def per_run(pattern):
    """Every run's file `pattern` ({dataset}, {run}) in the manifest."""
    return result_paths(MANIFEST, pattern)


def attacks_for(wildcards):
    """The one suite every run gets: main runs and every sweep point (the default one included) compare on it."""
    return list(config["attacks"])


def data_cache(split):
    """The cached split and facts a job reads: declared, so that Snakemake sees them missing."""
    return multiext(f"{config['data']['root']}/cache/{{dataset}}", f"-{split}.pt", "-info.json")


def job_resources(runtime_factor=1):
    return dict(
        mem_mb=config["mem_mb"],
        runtime=config["runtime_min"] * runtime_factor,
        gpu=config["gpus_per_job"],
    )
