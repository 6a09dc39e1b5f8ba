"""The Snakemake workflow catalog's conventions (issue 29 part 4): config/README.md describes every
config in config/, .snakemake-workflow-catalog.yml states only what the workflow supports, and CI
runs Snakemake's lint."""

from __future__ import annotations

import re

import yaml

from conftest import REPO

CONFIG_DIR = REPO / "config"
FIELDS = ("Runs", "Purpose", "Time", "Command")


def config_sections() -> dict[str, str]:
    """config/README.md's per-config sections (### `name.yaml`): file name -> the section's text."""
    text = (CONFIG_DIR / "README.md").read_text()
    parts = re.split(r"^### `([^`]+)`\n", text, flags=re.M)
    return {name: re.split(r"^##? ", body, flags=re.M)[0] for name, body in zip(parts[1::2], parts[2::2])}


def field(section: str, name: str) -> str:
    """The text of a `- **Name:**` item, its continuation lines joined."""
    found = re.search(rf"^- \*\*{name}:\*\*(.*?)(?=^- \*\*|\Z)", section, re.M | re.S)
    assert found, f"no **{name}:** item"
    return " ".join(found.group(1).split())


def test_every_config_is_described_in_config_readme():
    configs = sorted(p.name for p in CONFIG_DIR.iterdir() if p.suffix in (".yaml", ".yml"))
    sections = config_sections()
    # every config described, and no section left for a config that is gone
    assert sorted(sections) == configs
    for name, section in sections.items():
        for item in FIELDS:
            assert field(section, item), (name, item)


def test_config_readme_commands_run_their_config():
    for name, section in config_sections().items():
        command = field(section, "Command")
        assert command.startswith("`") and "snakemake " in command, (name, command)
        if name == "config.yaml":  # what a run without --configfile reads
            assert "`snakemake --cores 2`" in command, command
        else:
            assert re.search(rf"--configfile (\S+ )*config/{re.escape(name)}\b", command), (name, command)


def test_config_readme_times_are_measured_ones_or_say_not_measured():
    """Each time is 'not measured' or a figure the README or the config's own header states, so a
    time cannot be made up here or drift from where it was measured."""
    readme = (REPO / "README.md").read_text()
    for name, section in config_sections().items():
        time = field(section, "Time")
        header = "".join(
            line for line in (CONFIG_DIR / name).read_text().splitlines(keepends=True) if line.startswith("#")
        )
        minutes = re.findall(r"(\d+) min", time)
        assert minutes or time.startswith("not measured"), (name, time)
        for n in minutes:
            stated = rf"\b{n}(?: min|-minute)"
            assert re.search(stated, readme) or re.search(stated, header), (name, n)


def test_catalog_settings_state_what_the_workflow_supports():
    settings = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())
    usage = settings["usage"]
    assert set(usage) == {"mandatory-flags", "software-stack-deployment", "report"}
    flags = usage["mandatory-flags"]
    assert flags["desc"].strip() and isinstance(flags["flags"], list | str)
    deployment = usage["software-stack-deployment"]
    assert deployment["conda"] is True and not deployment.get("apptainer")  # there is no container image
    # conda: true holds only while every rule that runs code names the job environment
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for rule in re.split(r"^(?=rule \w+:)", smk.read_text(), flags=re.M)[1:]:
            runs_code = re.search(r"^\s+(script|shell|run|notebook|wrapper):", rule, re.M)
            if runs_code:
                assert re.search(r"^\s+conda:\s*\n\s+\"\.\./\.\./environment\.yml\"", rule, re.M), (
                    f"{smk.name}: {rule.splitlines()[0]} runs code outside environment.yml"
                )
    assert (REPO / "environment.yml").is_file()
    # report: true holds while some rule registers its output for `snakemake --report`
    assert usage["report"] is True
    assert any("report(" in smk.read_text() for smk in (REPO / "workflow" / "rules").glob("*.smk"))


def test_ci_runs_snakemakes_lint():
    lines = [line.split("#")[0].strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert any(re.fullmatch(r"\S*snakemake --lint", line) for line in lines), lines
