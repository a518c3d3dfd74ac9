"""Argo's published JSON schema (argoproj/argo-workflows, api/jsonschema/schema.json; Apache-2.0).

The schema is not kept in this repository: tests read it from ``$ARGO_WORKFLOWS_SCHEMA``, or from
``shared/argo-workflows/schema.json`` beside the repository, and skip (saying where to put it) when
neither exists. Checked strictly: Argo's schema allows unknown fields everywhere (no
``additionalProperties: false``), which would let a misspelt ``withparam`` through, so every object
with declared properties is closed here.
"""

from __future__ import annotations

import copy
import functools
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

ENV = "ARGO_WORKFLOWS_SCHEMA"
SHARED = REPO.parent / "shared" / "argo-workflows" / "schema.json"
PREFIX = "io.argoproj.workflow.v1alpha1."
SCHEMA_PATH = os.environ.get(ENV) or str(SHARED)  # read at import: test fixtures clear the environment


@functools.cache
def _definitions() -> dict[str, Any]:
    path = Path(SCHEMA_PATH)
    if not path.is_file():
        pytest.skip(f"Argo's JSON schema is not at {path}: put api/jsonschema/schema.json of argoproj/argo-workflows "
                    f"there, or name it in ${ENV}")
    definitions: dict[str, Any] = copy.deepcopy(json.loads(path.read_text())["definitions"])
    for definition in definitions.values():
        if "properties" in definition and "additionalProperties" not in definition:
            definition["additionalProperties"] = False
    return definitions


def available() -> bool:
    """Whether the schema is here: tests about something else check against it only then."""
    return Path(SCHEMA_PATH).is_file()


def validate(data: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError unless ``data`` is a valid Workflow or CronWorkflow."""
    import jsonschema

    kind = data.get("kind")
    assert kind in ("Workflow", "CronWorkflow"), kind
    schema = {"$ref": f"#/definitions/{PREFIX}{kind}", "definitions": _definitions()}
    jsonschema.Draft202012Validator(schema).validate(data)
