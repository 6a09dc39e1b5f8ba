import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")
from sagr import jobs

jobs.redirect_log(snakemake.log[0], snakemake.rule, dict(snakemake.wildcards.items()))
inputs = {
    k: list(getattr(snakemake.input, k))
    for k in ("train", "robustness", "saliency", "correct", "maps", "benchmark")
}
jobs.report_job(
    snakemake.config,
    snakemake.params.manifest,
    inputs,
    snakemake.output.html,
    snakemake.output.tex,
    snakemake.output.summary,
    snakemake.output.figures,
)
