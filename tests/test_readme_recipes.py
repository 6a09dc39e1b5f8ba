"""The README's recipes do what they say: each documented command, dry-run on the smoke config.

A finished smoke run is stood in for by empty files in the places the DAG puts them, marked
up to date with `snakemake --touch`: planning needs the files' existence and times, not their
contents, so each recipe is checked in seconds. A recipe the README gains without an expected
plan here fails the test, as does an expected plan for a recipe it no longer documents.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, planned_jobs

SMOKE = REPO / "config" / "smoke.yaml"
# The sections whose commands promise a plan: rerunning parts, and what to do when something breaks.
SECTIONS = ("### Rerun one rule, or one ablation point", "## When something goes wrong")
STANDARD = "results/mnist/standard_seed0"
PDF = {"render_pdf": 1} if shutil.which("latexmk") else {}
DOWNSTREAM_OF_ONE_MODEL = {
    "train_model": 1,
    "evaluate_model": 1,
    "saliency_model": 1,
    "render_report": 1,
    **PDF,
    "all": 1,
}
# README command (as written) -> (files to delete first, the jobs it must plan on a finished run).
RECIPES: dict[str, tuple[tuple[str, ...], dict[str, int]]] = {
    "snakemake --cores 2 results/mnist/sagr_lam1_beta0.25_T1_decoupled_projection_n1_seed0/"
    "{robustness,saliency}.json": ((), {"train_model": 1, "evaluate_model": 1, "saliency_model": 1}),
    f"snakemake --cores 2 --force {STANDARD}/robustness.json": ((), {"evaluate_model": 1}),
    "snakemake --cores 2 --forcerun render_report": ((), {"render_report": 1, **PDF, "all": 1}),
    "snakemake --cores all --unlock": ((), {}),
    "snakemake --cores all --rerun-incomplete": ((), {}),
    "snakemake --cores all": ((f"{STANDARD}/model.pt",), DOWNSTREAM_OF_ONE_MODEL),
    f"snakemake --cores all --forcerun {STANDARD}/model.pt": ((), DOWNSTREAM_OF_ONE_MODEL),
}


def readme_commands() -> list[str]:
    """Every `snakemake …` command of SECTIONS: code-block lines and inline code, comments dropped."""
    text = (REPO / "README.md").read_text()
    found = []
    for title in SECTIONS:
        level = title.split()[0]
        body = text.split(title + "\n", 1)[1]
        # The next heading as deep or shallower; a code block's "# comment" lines are not headings.
        prose = re.sub(r"```.*?```", lambda m: re.sub(r"[^\n]", " ", m.group()), body, flags=re.S)
        end = re.search(rf"^#{{1,{len(level)}}} ", prose, re.M)
        body = body[: end.start()] if end else body
        for block in re.findall(r"```bash\n(.*?)```", body, re.S):
            found += [line.split("#")[0].strip() for line in block.splitlines()]
        found += re.findall(r"(?<!`)`(snakemake [^`]*)`", body)
    return [c for c in dict.fromkeys(found) if c.startswith("snakemake ")]


def dry_run(workdir: Path, command: str, configfile: bool = True) -> tuple[int, str]:
    """Run `command` as a user types it (bash: braces expand), `snakemake` being this workflow,
    dry-run in `workdir` (on the smoke config unless the command names its own)."""
    config = f'--configfile "{SMOKE}" ' if configfile else ""
    shell = (
        f'snakemake() {{ "{sys.executable}" -m snakemake -s "{REPO / "Snakefile"}" -d "{workdir}" '
        f'{config}-n "$@"; }}\n{command}'
    )
    proc = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, cwd=workdir)
    return proc.returncode, proc.stdout + proc.stderr


def smoke_command(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    """This workflow on the smoke config in `workdir`."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir)]
    return subprocess.run(
        [*cmd, "--configfile", str(SMOKE), "--cores", "1", *args], capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A working directory in which the smoke run looks finished (every output present, up to date)."""
    workdir = tmp_path_factory.mktemp("finished")
    summary = smoke_command(workdir, "--summary").stdout
    for line in summary.splitlines()[1:]:
        path = workdir / line.split("\t")[0]
        if path.name in ("summary", "figures"):  # the report's directory outputs
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    touched = smoke_command(workdir, "--touch")
    assert touched.returncode == 0, touched.stderr[-2000:]
    rc, out = dry_run(workdir, "snakemake --cores 1")
    assert rc == 0 and "Nothing to be done" in out, out[-2000:]
    return workdir


@pytest.fixture
def workdir(finished: Path, tmp_path: Path) -> Path:
    """A copy of the finished run (times and Snakemake's records kept) that a test may change."""
    copy = tmp_path / "run"
    shutil.copytree(finished, copy, symlinks=True)
    return copy


def test_every_readme_recipe_has_an_expected_plan():
    assert sorted(readme_commands()) == sorted(RECIPES)


@pytest.mark.parametrize("command", list(RECIPES))
def test_readme_recipe_plans_what_it_says(workdir: Path, command: str):
    delete, expected = RECIPES[command]
    for path in delete:
        (workdir / path).unlink()
    rc, out = dry_run(workdir, command)
    assert rc == 0, out[-3000:]
    assert planned_jobs(out) == expected, out[-3000:]


def test_a_deleted_data_record_is_rebuilt(workdir: Path):
    """Issue 18 item 7: results/data/mnist.json deleted was neither noticed nor rebuilt."""
    (workdir / "results" / "data" / "mnist.json").unlink()
    rc, out = dry_run(workdir, "snakemake --cores all")
    assert rc == 0 and planned_jobs(out)["fetch_dataset"] == 1, out[-3000:]


def test_the_printed_rebuild_command_carries_the_runs_config_files(workdir: Path):
    """Issue 18 case 6: the command a damaged-file error names, copied as printed, plans this run's
    jobs (the default config's 77 without its --configfile)."""
    proc = smoke_command(workdir, "--force", f"{STANDARD}/saliency.json")  # reads an unrecorded train.json
    assert proc.returncode != 0
    log = (workdir / "logs" / "mnist" / "standard_seed0" / "saliency.log").read_text()
    found = re.search(r"Rebuild it \(and what depends on it\) with: (.*)$", log, re.M)
    assert found, log[-3000:]
    command = found.group(1)
    assert command == (f"snakemake --cores all --configfile {SMOKE} --forcerun {STANDARD}/train.json"), (
        command
    )
    rc, out = dry_run(workdir, command, configfile=False)
    assert rc == 0 and planned_jobs(out) == DOWNSTREAM_OF_ONE_MODEL, out[-3000:]


def test_the_rebuild_command_names_config_files_inside_the_checkout_as_typed(tmp_path, monkeypatch):
    from sagr.files import rebuild_command, use_configfiles

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SAGR_CONFIGFILES", "")
    assert rebuild_command("results/x.json") == "snakemake --cores all --forcerun results/x.json"
    (tmp_path / "config").mkdir()
    use_configfiles([tmp_path / "config" / "a b.yaml", Path("/elsewhere/c.yaml")])
    assert rebuild_command("results/x.json") == (
        "snakemake --cores all --configfile 'config/a b.yaml' /elsewhere/c.yaml --forcerun results/x.json"
    )


@pytest.mark.parametrize(
    "target, bound",
    [
        (
            "pgd_at_K0_a1_seed0/model.pt",
            "steps = 0 is less than the minimum of 1 (the bound of methods.pgd_at.steps",
        ),
        (
            "sagr_lam-1_beta0.5_T1_decoupled_projection_n1_seed0/robustness.json",
            "lam = -1.0 is less than the minimum of 0 (the bound of methods.sagr.lam",
        ),
        ("igr_lamnan_seed0/saliency.json", "lam = nan is not allowed; every number must be finite"),
    ],
)
def test_a_run_name_target_is_held_to_the_config_bounds_before_any_job(
    tmp_path: Path, target: str, bound: str
):
    """Issue 18 case 4: these targets trained (rc 0) while `steps: 0` in a config is refused."""
    rc, out = dry_run(tmp_path, f"snakemake --cores 1 results/mnist/{target}")
    assert rc != 0 and f"run '{target.split('/')[0]}': {bound}" in out, out[-3000:]
    assert "Job stats" not in out  # refused while building the DAG: no job planned, none run


def test_a_gpu_the_machine_lacks_stops_the_run_before_any_job(workdir: Path):
    """Item 7: `device: cuda` on a CPU machine failed only inside the first job."""
    if any(Path("/dev").glob("nvidia[0-9]*")) or Path("/dev/kfd").exists():
        pytest.skip("this machine has a GPU: the run would go ahead")
    proc = smoke_command(workdir, "--config", "device=cuda", "--forcerun", "render_report")
    out = proc.stdout + proc.stderr
    assert (
        proc.returncode != 0
        and "device: 'cuda' but this machine, where the jobs would run, has no GPU" in out
    )
    assert (workdir / "report" / "index.html").exists()  # the job never started: its outputs are still there
    assert not (workdir / "logs" / "report.log").read_text()


def test_device_check_finds_the_gpu_it_names(tmp_path: Path):
    from sagr.checks import ConfigError, check_device

    check_device({"device": "auto"}, tmp_path)
    check_device({"device": "cpu"}, tmp_path)
    with pytest.raises(ConfigError, match="has no GPU"):
        check_device({"device": "cuda"}, tmp_path)
    (tmp_path / "nvidia0").touch()
    check_device({"device": "cuda"}, tmp_path)
    check_device({"device": "cuda:0"}, tmp_path)
    with pytest.raises(
        ConfigError, match=r"device: 'cuda:1' but this machine, where the jobs would run, has GPUs \[0\]"
    ):
        check_device({"device": "cuda:1"}, tmp_path)
