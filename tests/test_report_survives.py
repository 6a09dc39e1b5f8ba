"""Issue 27: a render that fails (a truncated correct.npz, then `--forcerun render_report`) leaves the
last good report where the reader looks, marked as stale, and the console names the damaged file.

Snakemake deletes the render's outputs when the job starts and again when it fails; the workflow's
onerror handler puts the last good set back. A one-method, two-attack run keeps this test to minutes.
"""

import os
import re
import subprocess

import pytest
import yaml

from conftest import REPO, mirror_dir, planned_jobs, require_mnist, snakemake_cmd

pytestmark = pytest.mark.slow
OUTPUTS = ("report/index.html", "report/report.tex", "results/summary", "report/figures")
BANNER = re.compile(r'<div role="alert".*?</div>', re.S)


def _snakemake(workdir, config, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "SAGR_DATA_MIRROR": str(mirror_dir())}
    cmd = snakemake_cmd("-d", str(workdir), "--configfile", str(config), "--cores", "2", *args)
    return subprocess.run(cmd, capture_output=True, text=True, env=env)


def _snapshot(workdir) -> dict[str, bytes]:
    """Every file of the report's outputs, by path."""
    files = {}
    for rel in OUTPUTS:
        path = workdir / rel
        for f in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if f.is_file() and f.name != ".snakemake_timestamp":  # Snakemake's, written after the job
                files[str(f.relative_to(workdir))] = f.read_bytes()
    return files


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    require_mnist()
    config = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    config["methods"] = {"standard": {}}
    config.pop("ablation", None)
    config["attacks"] = {k: config["attacks"][k] for k in ("fgsm", "pgd")}
    config["benchmark"] = {"enabled": False}
    config["datasets"]["mnist"].update(eval_subset=16, saliency_images=8)
    path = tmp_path_factory.mktemp("config") / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    workdir = tmp_path_factory.mktemp("tiny")
    proc = _snakemake(workdir, path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return workdir, path


def test_a_failed_rerender_keeps_the_last_good_report_and_the_console_names_the_damaged_file(tiny_run):
    workdir, config = tiny_run
    good = _snapshot(workdir)
    assert "report/index.html" in good and any(k.startswith("results/summary/") for k in good)
    damaged = workdir / "results" / "mnist" / "standard_seed0" / "correct.npz"
    original = damaged.read_bytes()
    damaged.write_bytes(original[:-100])
    rel = str(damaged.relative_to(workdir))

    proc = _snakemake(workdir, config, "--forcerun", "render_report")
    assert proc.returncode != 0
    # the last good report is where the reader looks: every file as it was, the page marked at its top
    after = _snapshot(workdir)
    assert after.keys() == good.keys()
    page = after.pop("report/index.html").decode()
    assert {k: v for k, v in good.items() if k != "report/index.html"} == after
    banner = BANNER.search(page)
    assert banner and BANNER.sub("", page, count=1) == good["report/index.html"].decode()
    assert "a later render failed" in banner.group(0) and f"{rel}: file is damaged" in banner.group(0)
    # the console's last lines name the damaged file and the command that rebuilds it
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-8:])
    assert f"{rel}: file is damaged" in tail, tail
    assert f"--forcerun {rel}" in tail and "The last good report is back in place" in tail, tail

    # the restored report is not taken for up to date: the next run retries the render ...
    dry = _snakemake(workdir, config, "-n")
    plan = planned_jobs(dry.stdout + dry.stderr)
    assert plan.get("render_report") == 1, plan
    # ... which, once the file is rebuilt (here: put back), renders a report without the stale mark
    damaged.write_bytes(original)
    proc = _snakemake(workdir, config)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert not BANNER.search((workdir / "report" / "index.html").read_text())
