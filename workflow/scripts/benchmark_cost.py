import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")
from sagr import jobs

jobs.redirect_log(snakemake.log[0], snakemake.rule, dict(snakemake.wildcards.items()))
jobs.benchmark_job(snakemake.config, snakemake.output[0], list(snakemake.input.reference))
