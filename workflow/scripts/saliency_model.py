import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")
from sagr import jobs
from sagr.config import execution, read_settings

jobs.redirect_log(snakemake.log[0], snakemake.rule, dict(snakemake.wildcards.items()))
jobs.saliency_job(
    read_settings(snakemake.params.settings),
    execution(snakemake.config),
    snakemake.wildcards.dataset,
    snakemake.wildcards.run,
    snakemake.input.model,
    snakemake.output.record,
    snakemake.output.maps,
)
