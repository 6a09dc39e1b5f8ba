# Targets and input functions, computed once from the validated config.
from sagr.attack_kinds import suite_for_seed
from sagr.config import (
    attack_suite,
    benchmark_settings,
    report_settings,
    stage_resource,
    stage_settings,
)
from sagr.runs import decode_run, manifest, result_paths
from sagr.schedule import priority as schedule_priority

MANIFEST = manifest(config)
MAIN_RUNS = {(e.dataset, e.run.name) for e in MANIFEST if e.main}


wildcard_constraints:
    dataset="|".join(config["datasets"]),
    run=r"[A-Za-z][A-Za-z0-9_.+\-]*",


def per_run(pattern):
    """Every run's file `pattern` ({dataset}, {run}) in the manifest."""
    return result_paths(MANIFEST, pattern)


def attacks_for(wildcards):
    """The suite of one run: the same for every method and sweep point (the default one included); an
    attack with `seeds` (a costly cross-check) runs only on the models of those seeds, one with
    `main_only` only on the main comparison's models.
    """
    return suite_for_seed(
        config["attacks"],
        decode_run(wildcards.run).seed,
        (wildcards.dataset, wildcards.run) in MAIN_RUNS,
    )


def run_checked(wildcards):
    """No file: the run name decoded under the config's rules (bounds, finite numbers), so a target
    the config would refuse stops the DAG before any job, naming the target and the bound.
    """
    decode_run(wildcards.run)
    return []


def data_cache(split):
    """The cached split and facts a job reads: declared, so that Snakemake sees them missing."""
    return multiext(
        f"{config['data']['root']}/cache/{{dataset}}", f"-{split}.pt", "-info.json"
    )


def job_resources(stage):
    """mem_mb / runtime / gpu of one `stage` job for the scheduler: per dataset, growing with each retry."""

    def value(key):
        def get(wildcards, attempt):
            return stage_resource(config, wildcards.dataset, stage, key, attempt)

        return get

    return dict(mem_mb=value("mem_mb"), runtime=value("runtime_min"), gpu=value("gpus"))


def job_priority(stage):
    """Snakemake priority of one `stage` job (train, evaluate, saliency): the estimated CPU seconds of
    the longest chain it starts (sagr.schedule), so the longest chains start first and short jobs fill
    the end of the run.
    """

    def get(wildcards):
        main = (wildcards.dataset, wildcards.run) in MAIN_RUNS
        return schedule_priority(config, stage, wildcards.dataset, wildcards.run, main)

    return get
