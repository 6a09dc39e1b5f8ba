import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")
from sagr import jobs

jobs.redirect_log(snakemake.log[0], snakemake.rule, dict(snakemake.wildcards.items()))
jobs.fetch_dataset_job(snakemake.config["data"], snakemake.wildcards.dataset, snakemake.output.marker)
