# SAGR replication pipeline: train every method x dataset x seed, attack, measure
# saliency, render report/index.html and report/report.tex. See README.md.
import shutil
import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("8.0")

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from sagr.checks import check_device, read_config_file
from sagr.config import load
from sagr.files import use_configfiles

# A --configfile replaces the default instead of being merged into it: merging
# would silently keep the default's datasets and methods in a smaller run.
if not workflow.overwrite_configfiles:
    # Snakemake's own message for a YAML syntax error names neither line nor column.
    read_config_file(Path(workflow.basedir) / "config" / "config.yaml")

    configfile: str(Path(workflow.basedir) / "config" / "config.yaml")


# Schema (defaults filled in place, method part from sagr.registry), then cross-key checks.
load(config)
# A job's error names the command that rebuilds a file: with this run's config files, not the default.
use_configfiles(workflow.overwrite_configfiles)


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/saliency.smk"
include: "workflow/rules/benchmark.smk"
include: "workflow/rules/report.smk"


# The PDF needs a LaTeX installation outside the conda environments; without one the
# HTML report and report.tex are still built, and this one line says why the PDF is not.
PDF_TARGETS = ["report/report.pdf"] if shutil.which("latexmk") else []
if not PDF_TARGETS:
    print(
        "latexmk not found: skipping report/report.pdf (install latexmk and TeX Live to build it)",
        file=sys.stderr,
    )


# Downloading needs the login node's network; the reports are seconds of CPU: none waits in a queue.
localrules:
    fetch_dataset,
    render_report,
    render_pdf,


rule all:
    input:
        "report/index.html",
        "report/report.tex",
        PDF_TARGETS,
        # Snakemake does not rebuild a missing intermediate file whose dependents are up to date:
        # requesting every model and data cache file makes a deleted one rebuild, and what uses it rerun.
        per_run("results/{dataset}/{run}/model.pt"),
        expand("results/data/{dataset}.json", dataset=list(config["datasets"])),
        expand(
            f"{config['data']['root']}/cache/{{dataset}}{{ext}}",
            dataset=list(config["datasets"]),
            ext=["-train.pt", "-test.pt", "-info.json"],
        ),


# Before any job, when the jobs run on this machine (onstart runs for neither a dry run nor the jobs
# themselves, and a cluster submission may be planned where there is no GPU): a GPU the config asks for.
onstart:
    if workflow.local_exec:
        check_device(config)
