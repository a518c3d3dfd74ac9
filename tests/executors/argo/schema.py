"""Checking a rendered workflow against Argo's Workflow and CronWorkflow schema, by the first of:

1. Argo's published JSON schema (argoproj/argo-workflows, api/jsonschema/schema.json; Apache-2.0),
   from ``$ARGO_WORKFLOWS_SCHEMA`` or ``shared/argo-workflows/schema.json`` beside the repository.
   It is not kept in this repository. Checked strictly: Argo's schema allows unknown fields
   everywhere (no ``additionalProperties: false``), which would let a misspelt ``withparam``
   through, so every object with declared properties is closed here.
2. The npm package ``@kubernetes-models/argo-workflows@2.0.0`` (MIT: validators compiled with ajv
   from Argo's OpenAPI spec), run by ``node``, installed by ``.ci/run`` into ``.ci/node_modules``
   (git-ignored). It checks types, required fields and enums, not unknown fields: hera's models,
   which the workflow is built from, refuse those first.
3. Neither: the schema tests skip, saying how to get either.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

ENV = "ARGO_WORKFLOWS_SCHEMA"
SHARED = REPO.parent / "shared" / "argo-workflows" / "schema.json"
PREFIX = "io.argoproj.workflow.v1alpha1."
SCHEMA_PATH = os.environ.get(ENV) or str(SHARED)  # read at import: test fixtures clear the environment
CI = REPO / ".ci"
PACKAGE = "@kubernetes-models/argo-workflows"
NODE = shutil.which("node")
# Run with --input-type=module from .ci, so that the package resolves from .ci/node_modules.
_VALIDATE = f"""
import {{ Workflow }} from "{PACKAGE}/argoproj.io/v1alpha1/Workflow";
import {{ CronWorkflow }} from "{PACKAGE}/argoproj.io/v1alpha1/CronWorkflow";
let text = "";
for await (const chunk of process.stdin) text += chunk;
const data = JSON.parse(text);
try {{
  new (data.kind === "CronWorkflow" ? CronWorkflow : Workflow)(data).validate();
}} catch (error) {{
  console.error(error.message);
  process.exit(1);
}}
"""


def _node_package() -> bool:
    return NODE is not None and (CI / "node_modules" / PACKAGE / "package.json").is_file()


@functools.cache
def _definitions() -> dict[str, Any]:
    definitions: dict[str, Any] = copy.deepcopy(json.loads(Path(SCHEMA_PATH).read_text())["definitions"])
    for definition in definitions.values():
        if "properties" in definition and "additionalProperties" not in definition:
            definition["additionalProperties"] = False
    return definitions


def available() -> bool:
    """Whether a schema check is possible here: tests about something else check against it only then."""
    return Path(SCHEMA_PATH).is_file() or _node_package()


def require() -> None:
    """Skip the calling test, saying how to make the check possible, when no schema check is."""
    if not available():
        pytest.skip(f"no Argo schema to check against: put api/jsonschema/schema.json of argoproj/argo-workflows at "
                    f"{SCHEMA_PATH} (or name it in ${ENV}), or run `npm install --prefix .ci {PACKAGE}@2.0.0` "
                    "(as .ci/run does)")


def validate(data: dict[str, Any]) -> None:
    """Raise (jsonschema.ValidationError, or AssertionError with the validator's message) unless
    ``data`` is a valid Workflow or CronWorkflow."""
    require()
    kind = data.get("kind")
    assert kind in ("Workflow", "CronWorkflow"), kind
    if Path(SCHEMA_PATH).is_file():
        import jsonschema

        schema = {"$ref": f"#/definitions/{PREFIX}{kind}", "definitions": _definitions()}
        jsonschema.Draft202012Validator(schema).validate(data)
        return
    assert NODE is not None
    done = subprocess.run([NODE, "--input-type=module", "-e", _VALIDATE], input=json.dumps(data), text=True,
                          capture_output=True, cwd=CI, timeout=60, check=False)
    assert done.returncode == 0, f"{kind} does not validate against {PACKAGE}: {done.stderr.strip()}"
