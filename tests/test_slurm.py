"""The workflow on a real (single-node, throw-away) SLURM cluster through the SLURM profile."""

import os
import shutil
import subprocess
import time

import pytest
import yaml

from conftest import REPO, snakemake_cmd
from slurm_cluster import SlurmCluster, missing_tools

pytestmark = pytest.mark.slow


def _ensure_slurm() -> None:
    """Install slurm-wlm and munge when missing; skip (one line) only where that is impossible."""
    if not missing_tools():
        return
    if os.geteuid() != 0:
        pytest.skip(f"SLURM test needs root to install slurm-wlm/munge (missing: {missing_tools()})")
    if shutil.which("apt-get") is None:
        pytest.skip(f"SLURM test needs apt-get to install slurm-wlm/munge (missing: {missing_tools()})")
    proc = subprocess.run(
        ["apt-get", "install", "-y", "-q", "-o", "DPkg::Lock::Timeout=600", "slurm-wlm", "munge"],
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0 and not missing_tools(), proc.stdout[-2000:] + proc.stderr[-2000:]


def _small_config(tmp_path):
    """cifar_smoke with two methods on CIFAR-10 only: every stage, seven cluster jobs."""
    config = yaml.safe_load((REPO / "config" / "cifar_smoke.yaml").read_text())
    config["datasets"] = {"cifar10": config["datasets"]["cifar10"]}
    config["methods"] = {m: config["methods"][m] for m in ("standard", "sagr")}
    config["ablation"] = {}
    path = tmp_path / "slurm_smoke.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, config


def test_smoke_config_runs_on_a_real_slurm_cluster(tmp_path, fake_cifar_mirror):
    _ensure_slurm()
    configfile, config = _small_config(tmp_path)
    cluster = SlurmCluster(tmp_path / "cluster")
    workdir = tmp_path / "work"
    started = time.monotonic()
    try:
        cluster.start()
        env = {**cluster.env, "SAGR_DATA_MIRROR": str(fake_cifar_mirror), "SAGR_ALLOW_UNOFFICIAL_DATA": "1"}
        # The profile as users get it, plus this cluster's local overrides: no accounting (so squeue
        # for the status, sacct would poll forever), no account, 2 jobs at a time, short polling.
        cmd = snakemake_cmd(
            "-d",
            str(workdir),
            "--configfile",
            str(configfile),
            "--profile",
            str(REPO / "workflow" / "profiles" / "slurm"),
            "--slurm-status-command",
            "squeue",
            "--slurm-no-account",
            "--slurm-init-seconds-before-status-checks",
            "1",
            "--seconds-between-status-checks",
            "2",
            "--jobs",
            "2",
            "--latency-wait",
            "30",
            "--retries",
            "0",
        )
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out[-4000:] + "\n" + cluster.logs()
    finally:
        cluster.stop()
    print(f"SLURM smoke run: {time.monotonic() - started:.0f} s")
    assert all(p.poll() is not None for p in cluster.procs.values())  # every daemon we started is gone
    # The jobs really went through sbatch (one submission per non-local job), not run locally.
    submitted = len([line for line in out.splitlines() if "has been submitted with SLURM jobid" in line])
    n_cluster_jobs = 2 * 3 + 1  # train, evaluate, saliency per method + benchmark; fetch and report are local
    assert submitted == n_cluster_jobs, out[-4000:]
    html = (workdir / "report" / "index.html").read_text()
    assert "Provenance" in html
    records = sorted((workdir / "results" / "cifar10").glob("*/robustness.json"))
    assert sorted(p.parent.name.split("_")[0] for p in records) == sorted(config["methods"])
    ctld = (cluster.root / "log" / "slurmctld.log").read_text()
    # the cluster ran them: started by the main scheduler or by backfill, whichever got there first
    started = ctld.count("sched: Allocate JobId=") + ctld.count("sched/backfill: _start_job: Started JobId=")
    assert started == n_cluster_jobs, ctld[-3000:]
    assert "WEXITSTATUS 0" in ctld and "WEXITSTATUS 1" not in ctld
