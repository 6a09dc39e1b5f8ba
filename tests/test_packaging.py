"""pyproject.toml and environment.yml state the same dependencies with the same bounds."""

from __future__ import annotations

import re
import tomllib

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from conftest import REPO

# Snakemake runs the workflow from the base environment; the job environment does not need it.
BASE_ENV_ONLY = {"snakemake"}


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _conda_requirement(spec: str) -> Requirement:
    """A conda match spec ('pandas>=2.1', 'python=3.11') as a PEP 508 requirement."""
    spec = re.sub(r"^([A-Za-z0-9_.\-]+)=(?!=)", r"\1==", spec.strip())  # conda '=' pins a version prefix
    req = Requirement(spec)
    return req


def _environment() -> dict[str, Requirement]:
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    out: dict[str, Requirement] = {}
    for dep in env["dependencies"]:
        for spec in dep["pip"] if isinstance(dep, dict) else [dep]:
            req = _conda_requirement(spec)
            out[req.name.lower()] = req
    return out


def test_every_dependency_has_the_same_bounds_in_both_files() -> None:
    project = {Requirement(r).name.lower(): Requirement(r) for r in _pyproject()["project"]["dependencies"]}
    env = _environment()
    env.pop("pip", None)
    python = env.pop("python")
    assert set(project) - BASE_ENV_ONLY == set(env), (
        f"only in pyproject.toml: {sorted(set(project) - BASE_ENV_ONLY - set(env))}; "
        f"only in environment.yml: {sorted(set(env) - set(project))}"
    )
    for name, req in env.items():
        assert req.specifier == project[name].specifier, (
            f"{name}: {req.specifier} vs {project[name].specifier}"
        )
    # The job environment's Python satisfies requires-python, and both say 3.11 at least.
    requires = SpecifierSet(_pyproject()["project"]["requires-python"])
    pinned = str(python.specifier).lstrip("=")
    assert requires.contains(pinned + ".0") and not requires.contains("3.10.99")


def test_pandas_bound_has_styler_map() -> None:
    project = {Requirement(r).name: Requirement(r) for r in _pyproject()["project"]["dependencies"]}
    assert not project["pandas"].specifier.contains("2.0.3"), "Styler.map needs pandas >= 2.1"


def test_readme_states_the_same_python() -> None:
    readme = (REPO / "README.md").read_text()
    stated = set(re.findall(r"Python\s*(?:≥|>=)\s*(3\.\d+)", readme))
    assert stated == {"3.11"}, stated
