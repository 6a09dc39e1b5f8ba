"""Every command the README shows works as written after the README's own install (issue 30).

A copy of the checkout gets the README's first command word for word (`python3 -m venv .venv &&
.venv/bin/pip install -q -e .`: no test extras), then every command of the README's ```bash blocks
and inline code runs there, on the smoke config, with that environment first on PATH (as after
`source .venv/bin/activate`) and nothing of the test environment visible. The suite's own venv
has the test extras (pytest brings pygments, for one), so only a separate base install shows a
runtime dependency missing from `pyproject.toml`: `snakemake --report` then fails here.

Each README command is in COMMANDS with how it is run (as written, as a dry run, or with its
smallest settings) or why it cannot be; a command the README gains without an entry fails the test.
The base venv is as large as the test venv (torch): it is built once per module and deleted after.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from conftest import REPO, mirror_dir, planned_jobs, require_mnist
from test_readme_recipes import RECIPES, STANDARD

pytestmark = pytest.mark.slow

SMOKE = "config/smoke.yaml"
INSTALL = "python3 -m venv .venv && .venv/bin/pip install -q -e ."
PIPELINE = ".venv/bin/snakemake --cores 2"
REPORT = "snakemake --report report/workflow.zip"
EVALUATE = (
    "sagr evaluate results/mnist/standard_seed0/model.pt --dataset mnist --config config/config.yaml "
    "--out evaluation/mine"
)
EXPORT = "sagr export --results results --out results/robustbench"
CHECK_CONFIG = "sagr check-config FILE [FILE ...]"
BENCH_SMALL = ".venv/bin/python benchmarks/bench_methods.py --arch small_cnn"
BENCH_RESNET = (
    ".venv/bin/python benchmarks/bench_methods.py --arch preact_resnet18 --batch-size 16 --steps 3 --warmup 1"
)
# The smallest settings that still time every method and estimator once (flags given later win);
# PreActResNet-18 on a synthetic batch: no CIFAR-10 download in a test (step time does not depend on pixels).
BENCH_SMALLEST = {
    "small_cnn": f" --config {SMOKE} --batch-size 4 --steps 1 --warmup 0 --noise-draws 2",
    "preact_resnet18": f" --config {SMOKE} --batch-size 2 --steps 1 --warmup 0 --noise-draws 2 --no-mirror",
}
BUDGET = "python benchmarks/bench_run_budget.py --config config/config.yaml --results results --cores 2 8"
FLOOR = "python benchmarks/bench_stage_floor.py --config config/config.yaml --results results"
PROFILE = "python benchmarks/profile_job.py"
# One method, one step, a handful of points and attacks at one ε: the slice still runs both job functions.
PROFILE_SMALLEST = (
    f" --config {SMOKE} --methods pgd_at --steps 1 --eval-points 8 --attacks pgd,apgd_ce --eps 0.3"
)
CIFAR = (
    "python tests/fake_data.py /tmp/mirror && SAGR_DATA_MIRROR=/tmp/mirror SAGR_ALLOW_UNOFFICIAL_DATA=1 "
    "snakemake --cores 2 --configfile config/cifar_smoke.yaml"
)
DRY_CONFIGS = (
    "snakemake --cores 8 --configfile config/paper.yaml",
    "snakemake --profile workflow/profiles/slurm --configfile config/paper.yaml",
    "--configfile config/quick.yaml",
    "--configfile config/config.yaml config/fashion_mnist.yaml",
    "--configfile config/config.yaml config/curves.yaml",
    "--configfile config/config.yaml config/curves.yaml config/readings.yaml",
    "--configfile config/config.yaml config/seeds.yaml",
)
RESTORE = "cp -p .sagr/previous/results/mnist/<run>/robustness.json* results/mnist/<run>/"

# README command (as written) -> how this file runs it, or why it cannot.
COMMANDS: dict[str, str] = {
    f"{INSTALL} && {PIPELINE}": "run: the install as written, the pipeline on the smoke config",
    REPORT: "run",
    EVALUATE: f"run on {SMOKE} (the default config's attacks take minutes per model)",
    "sagr evaluate": "the bash block's command, run",
    EXPORT: "run",
    "sagr export": "the bash block's command, run",
    CHECK_CONFIG: "run on the files the README names, and on a broken one",
    **{command: "dry run (test_readme_recipes checks the same plans)" for command in RECIPES},
    "snakemake --unlock": "run",
    BENCH_SMALL: "run with the smallest settings",
    BENCH_RESNET: "run with the smallest settings",
    BUDGET: f"run on {SMOKE} and the smoke run's results",
    FLOOR: f"run on {SMOKE} and the smoke run's results",
    PROFILE: "run with the smallest settings",
    CIFAR: "fake_data.py run, the workflow dry run (tests/test_cifar_smoke.py runs it in full)",
    **{command: "dry run" for command in DRY_CONFIGS},
    RESTORE: "run, on a deleted robustness.json of the smoke run",
    "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/python -m pytest -q": (
        "not run: it installs the test extras and runs this suite (.ci/run runs it)"
    ),
    "snakemake --cores 8 --use-conda": (
        "not run: needs conda, which pip does not install, and builds environment.yml's environment "
        "(torch included) from the network"
    ),
    "OUT=gpu_results bash benchmarks/gpu_bench.sh": "not run: needs a CUDA GPU (exits 1 without one)",
    "OUT=/tmp/gpu benchmarks/gpu_check.sh": "not run: needs a CUDA GPU",
    "apt-get install latexmk texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended": (
        "not run: a system install (root, network); .ci/run does it"
    ),
}

# A code span that is a command: optional VAR=value assignments, then a program this project documents
# (or a --configfile fragment of a snakemake command).
_COMMAND = re.compile(
    r"(?:[A-Z_]+=\S+ )*(?:(?:snakemake|sagr|python3?|\.venv/bin/\S+|bash|cp|apt-get|benchmarks/\S+\.(?:sh|py))(?: |$)"
    r"|--configfile \S)"
)


def readme_commands() -> list[str]:
    """Every command the README shows: lines of ```bash blocks (comments dropped) and inline code
    spans that are commands (whitespace of a span broken over lines made single)."""
    text = (REPO / "README.md").read_text()
    found = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, re.S | re.M):
        found += [re.sub(r"(^|\s)#.*", "", line).strip() for line in block.splitlines()]
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    spans = (" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose))
    found += [span for span in spans if _COMMAND.match(span)]
    return [c for c in dict.fromkeys(found) if c]


class Checkout:
    """A copy of this checkout with the README's base install, and a shell that runs commands in it."""

    def __init__(self, root: Path):
        self.root = root
        bin_dir = root / ".venv" / "bin"
        own_bin = Path(sys.prefix) / "bin"  # the test venv: none of it may leak into the base install's runs
        path = [p for p in os.environ["PATH"].split(os.pathsep) if p and Path(p) != own_bin]
        self.env = {
            k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
        }
        self.env.update(
            PATH=os.pathsep.join([str(bin_dir), *path]),
            VIRTUAL_ENV=str(root / ".venv"),
            SAGR_DATA_MIRROR=str(mirror_dir()),
        )

    def run(self, command: str, *, dry: bool = False, timeout: float = 1800) -> tuple[int, str]:
        """`command` in bash in the checkout, `snakemake` (bare or as .venv/bin/snakemake) on the smoke
        config unless the command names its own --configfile, dry-run when `dry`."""
        flags = ("" if "--configfile" in command else f"--configfile {SMOKE} ") + ("-n " if dry else "")
        command = re.sub(r"(?<![\w/.])\.venv/bin/snakemake\b", "snakemake", command)
        script = f'snakemake() {{ command snakemake {flags}"$@"; }}\n{command}'
        proc = subprocess.run(
            ["bash", "-c", script],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return proc.returncode, proc.stdout + proc.stderr


def copy_checkout(dest: Path) -> None:
    """The checkout's files as a clone would have them (tracked, plus new files not yet committed)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in filter(None, listed.split("\0")):
        src = REPO / name
        if src.is_file():  # a tracked file deleted in the working tree is not there to copy
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """The README's first command in a fresh copy: the base install, then the pipeline (smoke config)."""
    require_mnist()
    first = readme_commands()[0]
    assert first == f"{INSTALL} && {PIPELINE}", first
    root = tmp_path_factory.mktemp("readme") / "checkout"
    root.mkdir()
    copy_checkout(root)
    co = Checkout(root)
    try:
        rc, out = co.run(INSTALL, timeout=1800)
        assert rc == 0, out[-3000:]
        rc, out = co.run(PIPELINE)
        assert rc == 0, out[-3000:]
        yield co
    finally:
        shutil.rmtree(root / ".venv", ignore_errors=True)  # as large as torch: not kept among pytest's temps


def test_every_readme_command_is_run_or_says_why_not():
    assert sorted(readme_commands()) == sorted(COMMANDS)


def test_the_readme_command_collector_finds_block_lines_and_inline_commands():
    commands = readme_commands()
    assert commands[0].startswith("python3 -m venv .venv")
    assert REPORT in commands and "snakemake --unlock" in commands
    assert not [c for c in commands if c.startswith("#") or "\n" in c or c == "--configfile"]
    assert "sagr.load_model" not in " ".join(commands)  # a Python name in code, not a command


def test_the_base_install_has_no_test_extras_and_is_consistent(checkout: Checkout):
    python = checkout.root / ".venv" / "bin" / "python"
    rc, out = checkout.run(f"{python} -m pip check")
    assert rc == 0, out
    for extra in ("pytest", "playwright", "mutmut"):  # what the test venv has and a user's does not
        rc, _ = checkout.run(f'{python} -c "import {extra}"')
        assert rc != 0, f"{extra} is importable in the base install: the test proves nothing"
    rc, out = checkout.run(f'{python} -c "import sagr, sys; print(sagr.__file__, sys.prefix)"')
    assert rc == 0 and str(checkout.root) in out.split()[0] and out.split()[1] == str(checkout.root / ".venv")


def test_the_pipeline_finished_and_left_nothing_to_do(checkout: Checkout):
    assert (checkout.root / "report" / "index.html").stat().st_size > 0
    rc, out = checkout.run("snakemake --cores 2", dry=True)
    assert rc == 0 and planned_jobs(out) == {}, out[-3000:]


def test_snakemake_report_packs_the_report(checkout: Checkout):
    """Issue 30: `--report` stopped with "pygments must be installed" after the base install."""
    rc, out = checkout.run(REPORT)
    assert rc == 0, out[-3000:]
    with zipfile.ZipFile(checkout.root / "report" / "workflow.zip") as archive:
        assert archive.testzip() is None
        names = archive.namelist()
    assert any(n.endswith("/report.html") for n in names), names[:20]
    assert any(n.endswith("index.html") and "/data/" in n for n in names), names  # the rule's report() output


def test_sagr_export_writes_a_record_per_evaluated_model(checkout: Checkout):
    rc, out = checkout.run(EXPORT)
    assert rc == 0, out[-3000:]
    evaluated = {p.parent.name for p in (checkout.root / "results" / "mnist").glob("*/robustness.json")}
    exported = {p.stem for p in (checkout.root / "results" / "robustbench" / "mnist").glob("*.json")}
    assert evaluated and exported == evaluated


def test_sagr_evaluate_writes_what_the_evaluate_job_writes(checkout: Checkout):
    rc, out = checkout.run(EVALUATE.replace("config/config.yaml", SMOKE))
    assert rc == 0, out[-3000:]
    mine = checkout.root / "evaluation" / "mine"
    records = json.loads((mine / "robustness.json").read_text())
    assert records["records"] and (mine / "correct.npz").stat().st_size > 0


def test_sagr_check_config_passes_the_documented_configs_and_names_a_broken_one(checkout: Checkout):
    for files in (SMOKE, "config/config.yaml config/fashion_mnist.yaml", "config/paper.yaml"):
        rc, out = checkout.run(f"sagr check-config {files}")
        assert rc == 0 and "config OK" in out, (files, out[-3000:])
    (checkout.root / "broken.yaml").write_text("seeds: [0\n")
    rc, out = checkout.run(f"sagr check-config {SMOKE} broken.yaml")
    assert rc == 2 and "broken.yaml" in out, out[-3000:]


@pytest.mark.parametrize("command", list(RECIPES))
def test_the_rerun_recipes_plan_what_they_say(checkout: Checkout, command: str):
    delete, expected = RECIPES[command]
    moved = [(checkout.root / p, checkout.root / (p + ".aside")) for p in delete]
    for path, aside in moved:  # put back afterwards: the later tests read the finished run
        path.rename(aside)
    try:
        rc, out = checkout.run(command, dry=True)
    finally:
        for path, aside in moved:
            aside.rename(path)
    assert rc == 0, out[-3000:]
    assert planned_jobs(out) == expected, out[-3000:]


def test_snakemake_unlock(checkout: Checkout):
    rc, out = checkout.run("snakemake --unlock")
    assert rc == 0 and "Unlock" in out, out[-3000:]


@pytest.mark.parametrize("command", DRY_CONFIGS)
def test_the_other_configs_plan_a_run(checkout: Checkout, command: str):
    if command.startswith("--"):  # a fragment the README adds to a plain run
        command = f"snakemake --cores 2 {command}"
    rc, out = checkout.run(command, dry=True)
    assert rc == 0 and planned_jobs(out).get("train_model", 0) > 0, out[-3000:]


def test_the_cifar_smoke_recipe_makes_its_mirror_and_plans_the_run(checkout: Checkout, tmp_path: Path):
    rc, out = checkout.run(CIFAR.replace("/tmp/mirror", str(tmp_path / "mirror")), dry=True)
    assert rc == 0, out[-3000:]
    assert (tmp_path / "mirror" / "MD5SUMS").is_file()
    assert planned_jobs(out).get("train_model", 0) > 0, out[-3000:]


@pytest.mark.parametrize("command", [BENCH_SMALL, BENCH_RESNET])
def test_the_cost_benchmark_times_every_method(checkout: Checkout, command: str):
    arch = re.search(r"--arch (\w+)", command).group(1)
    out_file = checkout.root / "benchmarks" / f"cost_{arch}_cpu.json"  # the README's "-> benchmarks/..."
    rc, out = checkout.run(command + BENCH_SMALLEST[arch])
    assert rc == 0, out[-3000:]
    timed = {row["method"] for row in json.loads(out_file.read_text())["rows"]}
    assert timed == set(yaml.safe_load((checkout.root / SMOKE).read_text())["methods"]), timed


def test_the_run_budget_replays_the_smoke_run(checkout: Checkout):
    rc, out = checkout.run(BUDGET.replace("config/config.yaml", SMOKE))
    assert rc == 0, out[-3000:]
    # the README's number: the replay of the measured job times on 8 cores
    assert re.search(r"^\s*--cores 8: [\d.]+ min", out, re.M) and "skipped" not in out, out[-3000:]


def test_the_stage_floor_sets_the_smoke_run_against_its_step_floor(checkout: Checkout):
    rc, out = checkout.run(FLOOR.replace("config/config.yaml", SMOKE) + " --json floor.json")
    assert rc == 0, out[-3000:]
    totals = json.loads((checkout.root / "floor.json").read_text())["totals"]
    assert set(totals) == {"train", "evaluate"} and all(t["ratio"] > 0 for t in totals.values()), out[-3000:]


def test_the_job_profile_runs_a_training_and_an_evaluation_slice(checkout: Checkout):
    rc, out = checkout.run(PROFILE + PROFILE_SMALLEST + " --out profile.json")
    assert rc == 0, out[-3000:]
    profiled = json.loads((checkout.root / "profile.json").read_text())["jobs"]
    assert sorted(k.split("/")[0] for k in profiled) == ["evaluate", "train"], profiled.keys()
    assert all(j["top_ops"] and 0 <= j["outside_share"] <= 1 for j in profiled.values())


def test_a_deleted_result_comes_back_from_the_previous_good_one(checkout: Checkout):
    """Last: it deletes a result of the run the other tests read."""
    result = checkout.root / STANDARD / "robustness.json"
    kept = {p.name: p.read_bytes() for p in result.parent.glob("robustness.json*")}
    for name in kept:
        (result.parent / name).unlink()
    rc, out = checkout.run(RESTORE.replace("<run>", "standard_seed0"))
    assert rc == 0, out[-3000:]
    assert {p.name: p.read_bytes() for p in result.parent.glob("robustness.json*")} == kept
    rc, out = checkout.run("snakemake --cores all", dry=True)
    assert rc == 0 and planned_jobs(out) == {}, out[-3000:]
