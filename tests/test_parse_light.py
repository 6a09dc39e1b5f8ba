"""Parsing the Snakefile needs only snakemake, pyyaml and jsonschema (`--use-conda` with a bare base env).

The Snakefile, its rules and every module they import at parse time run in a subprocess in
which the heavy stack cannot be imported: a meta-path finder on PYTHONPATH (sitecustomize)
refuses torch, torchvision, torchattacks and captum everywhere, and numpy, pandas, matplotlib, seaborn
and scipy to the repository's own code.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

# Never importable; the second group only for our own code (Snakemake's plugins may use pandas).
BLOCKED = ("torch", "torchvision", "torchattacks", "captum", "autoattack")
OURS_ONLY = ("numpy", "pandas", "matplotlib", "seaborn", "scipy")
BLOCKER = f'''
import sys
BLOCKED, OURS_ONLY, REPO = {BLOCKED!r}, {OURS_ONLY!r}, {str(REPO)!r}


def _importer():
    """File of the code that asked for the import (skipping importlib's own frames)."""
    frame = sys._getframe(2)
    while frame is not None and ("importlib" in frame.f_code.co_filename
                                 or frame.f_code.co_filename.startswith("<frozen")):
        frame = frame.f_back
    return frame.f_code.co_filename if frame is not None else ""


def _is_ours(filename):
    """Our code: under the repository, but not an installed package (CI's venv lives in the repo)."""
    return filename.startswith(REPO) and "site-packages" not in filename


class Blocker:
    """Refuse the heavy stack, as an environment holding only Snakemake would."""

    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in BLOCKED or (top in OURS_ONLY and _is_ours(_importer())):
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the parse test)", name=name)
        return None


sys.meta_path.insert(0, Blocker())
'''


def _run(blocker_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker_dir), str(REPO / "src")])}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True)


@pytest.fixture
def blocker(tmp_path: Path) -> Path:
    d = tmp_path / "blocker"
    d.mkdir()
    (d / "sitecustomize.py").write_text(BLOCKER)
    return d


def test_the_blocker_really_blocks_torch_and_our_pandas(blocker: Path, tmp_path: Path) -> None:
    proc = _run(blocker, "-c", "import torch", cwd=tmp_path)
    assert proc.returncode != 0 and "blocked by the parse test" in proc.stderr
    proc = _run(blocker, "-c", "import sagr.results", cwd=tmp_path)  # imports numpy and pandas
    assert proc.returncode != 0 and "(blocked by the parse test)" in proc.stderr


# Until the attack-kind registry (torch-free validate_suite, sagr/attack_kinds.py) lands, the config
# check still imports sagr.attacks (torch): these tests must fail then, and guard for real afterwards.
PENDING_ATTACK_KINDS = pytest.mark.xfail(
    not (REPO / "src" / "sagr" / "attack_kinds.py").is_file(),
    strict=True,
    reason="sagr.config.check_config imports sagr.attacks (torch) until sagr/attack_kinds.py lands",
)


@PENDING_ATTACK_KINDS
@pytest.mark.parametrize("configfile", ["smoke.yaml", "paper.yaml"])
def test_dry_run_without_torch(blocker: Path, tmp_path: Path, configfile: str) -> None:
    proc = _run(
        blocker,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        str(tmp_path / "work"),
        "--configfile",
        str(REPO / "config" / configfile),
        "-n",
        "--cores",
        "2",
        cwd=tmp_path,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "train_model" in out and "evaluate_model" in out and "render_report" in out


@PENDING_ATTACK_KINDS
def test_a_bad_config_is_still_caught_at_parse_time_without_torch(blocker: Path, tmp_path: Path) -> None:
    """The attack-suite and method checks run without torch too: not skipped, just light."""
    import yaml

    config = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    config["attacks"]["pgd"]["stepz"] = 3
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    proc = _run(
        blocker,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        str(tmp_path / "work"),
        "--configfile",
        str(bad),
        "-n",
        "--cores",
        "1",
        cwd=tmp_path,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "stepz" in out and "blocked by the parse test" not in out, out[-3000:]
