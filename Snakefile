# SAGR replication pipeline: train every method x dataset x seed, attack, measure
# saliency, render report/index.html and report/report.tex. See README.md.
import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("8.0")

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

# A --configfile replaces the default instead of being merged into it: merging
# would silently keep the default's datasets and methods in a smaller run.
if not workflow.overwrite_configfiles:

    configfile: str(Path(workflow.basedir) / "config" / "config.yaml")


from sagr.config import load

# Schema (defaults filled in place, method part from sagr.registry), then cross-key checks.
load(config)


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/saliency.smk"
include: "workflow/rules/benchmark.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        "report/index.html",
        "report/report.tex",
