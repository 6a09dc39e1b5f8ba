"""What a scheduler is asked for: per stage and dataset, more on each retry; planned by the SLURM profile.

(That fetch_dataset and render_report are local rules, never submitted, is checked by tests/test_slurm.py.)
"""

import re
import subprocess

from conftest import REPO, snakemake_cmd
from sagr.config import load, stage_resource

PAPER = load(REPO / "config" / "paper.yaml")


def test_lookup_order_dataset_then_stage_then_global_and_growth_per_retry():
    assert stage_resource(PAPER, "svhn", "train", "runtime_min") == 1080  # dataset override
    assert stage_resource(PAPER, "cifar10", "train", "runtime_min") == 1440  # stage default
    assert stage_resource(PAPER, "cifar10", "saliency", "runtime_min") == 60
    assert stage_resource(PAPER, "mnist", "evaluate", "mem_mb") == 16000
    smoke = load(REPO / "config" / "smoke.yaml")  # sets no resources: the global value, then the schema's
    assert stage_resource({**smoke, "mem_mb": 3000}, "mnist", "train", "mem_mb") == 3000
    assert stage_resource(smoke, "mnist", "train", "gpus") == 0
    assert stage_resource(PAPER, "cifar10", "train", "runtime_min", attempt=2) == 2160  # x1.5
    assert stage_resource(PAPER, "cifar10", "train", "mem_mb", attempt=3) == 72000  # x1.5^2
    assert stage_resource(PAPER, "cifar10", "train", "gpus", attempt=3) == 1  # GPUs do not grow


def test_paper_study_plans_on_slurm_with_stage_resources(tmp_path):
    proc = subprocess.run(
        snakemake_cmd(
            "-n",
            "-d",
            str(tmp_path),
            "--configfile",
            str(REPO / "config" / "paper.yaml"),
            "--profile",
            str(REPO / "workflow" / "profiles" / "slurm"),
        ),
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    seen = {}
    for block in re.split(r"\n\[[^\]]+\]\n", out):
        head = re.search(r"^(local)?rule (\w+):", block, re.M)
        res = re.search(r"resources: (.*)", block)
        wc = re.search(r"dataset=(\w+)", block)
        if head and res and head.group(2) != "all":
            fields = dict(kv.split("=", 1) for kv in res.group(1).split(", "))
            seen.setdefault((head.group(2), wc.group(1) if wc else None, bool(head.group(1))), set()).add(
                (fields.get("runtime"), fields.get("mem_mb"), fields.get("gpu"))
            )
    assert seen[("train_model", "cifar10", False)] == {("1440", "32000", "1")}
    assert seen[("train_model", "svhn", False)] == {("1080", "32000", "1")}
    assert seen[("train_model", "mnist", False)] == {("240", "16000", "1")}
    assert seen[("evaluate_model", "cifar10", False)] == {("720", "32000", "1")}
    assert seen[("saliency_model", "cifar10", False)] == {("60", "16000", "1")}
    assert seen[("fetch_dataset", "cifar10", False)] == {("30", "2000", "0")}
