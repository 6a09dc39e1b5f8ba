import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")
from sagr import jobs
from sagr.config import read_settings

jobs.redirect_log(snakemake.log[0], snakemake.rule, dict(snakemake.wildcards.items()))
inputs = {
    k: list(getattr(snakemake.input, k))
    for k in ("train", "robustness", "saliency", "correct", "maps", "benchmark")
}
try:
    jobs.report_job(
        read_settings(snakemake.params.settings),
        snakemake.params.manifest,
        inputs,
        snakemake.output.html,
        snakemake.output.tex,
        snakemake.output.summary,
        snakemake.output.figures,
    )
except Exception as err:
    # The job's stderr is its log; the console (the process's own stderr) gets the reason too: the
    # damaged file, what wrote it and the command that rebuilds it, not only "check log files".
    print(f"render_report failed: {err}", file=sys.__stderr__, flush=True)
    raise
