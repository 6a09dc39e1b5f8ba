"""The config schema (workflow/schemas/config.schema.yaml) with its name lists filled from the registries.

Its own module so that `sagr.config` and `sagr.runs` both read it without importing each other.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path
from typing import Any

from . import registry

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


@lru_cache(maxsize=1)
def _schema_file() -> dict[str, Any]:
    import yaml

    return yaml.safe_load(SCHEMA_PATH.read_text())


def _schema() -> dict[str, Any]:
    """The schema for the registries as they are now (an entry added at run time counts)."""
    from .attack_kinds import ATTACK_REGISTRY, ROLES  # torch-free

    return _filled(tuple(registry.DATASETS), tuple(registry.ARCHS), tuple(ATTACK_REGISTRY), ROLES)


@lru_cache(maxsize=4)
def _filled(
    datasets: tuple[str, ...], archs: tuple[str, ...], kinds: tuple[str, ...], roles: tuple[str, ...]
) -> dict[str, Any]:
    """The schema file with every name list filled from the registries (cached per registry state;
    methods register once, at import)."""
    schema = copy.deepcopy(_schema_file())
    props = schema["properties"]
    entries = registry.methods()
    props["datasets"]["propertyNames"] = {"enum": list(datasets)}
    schema["$defs"]["dataset"]["properties"]["arch"]["enum"] = list(archs)
    attack = schema["$defs"]["attack"]["properties"]
    attack["kind"]["enum"] = list(kinds)
    attack["role"]["enum"] = list(roles)
    props["methods"]["propertyNames"] = {"enum": list(entries)}
    props["methods"]["properties"] = {
        m.name: {
            "type": "object",
            "additionalProperties": False,
            "description": m.summary,
            "properties": {p.name: p.json_schema() for p in m.hparams},
        }
        for m in entries.values()
    }
    recipes = schema["$defs"]["dataset"]["properties"]["recipes"]
    recipes["propertyNames"] = {"enum": list(entries)}
    sweeps = props["ablation"]["properties"]["sweeps"]
    sweeps["propertyNames"] = {"enum": list(entries)}
    sweeps["properties"] = {
        m.name: {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                p.name: {"type": "array", "minItems": 1, "items": p.json_schema()}
                for p in m.hparams
                if p.sweepable
            },
        }
        for m in entries.values()
    }
    return schema
