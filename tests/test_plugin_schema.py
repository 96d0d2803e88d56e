"""The `dfns` schema: valid against Pulumi's metaschema, and built from the package's
own constants (every input, output and setting present, secrets marked)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pulumi_dfns.inputs import INPUTS, OUTPUTS, SECRET_PROPERTIES
from pulumi_dfns.plugin.names import CAMEL_OF, RESOURCE_TOKEN
from pulumi_dfns.plugin.schema import schema
from pulumi_dfns.settings import ALL_SETTINGS

# The CLI's own metaschema (pkg/codegen/schema/pulumi.json) in the Go module of the CLI
# version the real-CLI tests run, fetched by the `go` client as a module download.
PKG_MODULE = "github.com/pulumi/pulumi/pkg/v3@v3.277.0"
METASCHEMA_ENV = "PULUMI_DFNS_METASCHEMA"


def _metaschema() -> dict[str, Any]:
    given = os.environ.get(METASCHEMA_ENV)
    if given:
        path = Path(given)
    else:
        go = shutil.which("go")
        if go is None:
            pytest.skip(f"no metaschema: set {METASCHEMA_ENV} or install Go")
        found = subprocess.run(
            [go, "mod", "download", "-json", PKG_MODULE],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        if found.returncode != 0:
            pytest.skip(f"no metaschema: go mod download {PKG_MODULE} failed")
        path = Path(json.loads(found.stdout)["Dir"]) / "codegen" / "schema" / "pulumi.json"
    # Its patterns are ECMA-262 regular expressions (JSON Schema's dialect), whose named
    # groups `(?<name>...)` Python's `re` spells `(?P<name>...)`: translated, nothing else.
    text = path.read_text().replace("(?<", "(?P<").replace("(?P<=", "(?<=").replace("(?P<!", "(?<!")
    data: dict[str, Any] = json.loads(text)
    return data


def _validate(instance: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    meta = _metaschema()
    validator = jsonschema.validators.validator_for(meta)
    validator.check_schema(meta)
    validator(meta).validate(instance)


def test_the_schema_is_valid_against_pulumis_metaschema() -> None:
    _validate(schema("0.1.0"))


def test_the_metaschema_check_can_fail() -> None:
    """The validation above is not vacuous: a misspelt key is refused."""
    jsonschema = pytest.importorskip("jsonschema")
    broken = schema("0.1.0")
    broken["resources"][RESOURCE_TOKEN]["inputProperties"]["url"]["type"] = "text"
    with pytest.raises(jsonschema.ValidationError):
        _validate(broken)


def test_every_input_output_and_setting_is_in_the_schema() -> None:
    spec = schema("1.2.3")
    assert spec["version"] == "1.2.3"
    webhook = spec["resources"][RESOURCE_TOKEN]
    assert sorted(webhook["inputProperties"]) == sorted(CAMEL_OF[n] for n in INPUTS)
    assert sorted(webhook["properties"]) == sorted(CAMEL_OF[n] for n in OUTPUTS)
    for name in SECRET_PROPERTIES:
        assert webhook["properties"][CAMEL_OF[name]]["secret"] is True
    assert webhook["inputProperties"]["secretVersion"]["replaceOnChanges"] is True
    assert webhook["aliases"] == [{"type": "pulumi-python:dynamic/dfns:Webhook"}]
    settings = spec["config"]["variables"]
    assert sorted(settings) == sorted(s.key for s in ALL_SETTINGS)
    assert spec["provider"]["inputProperties"] == settings
    assert {k for k, v in settings.items() if v.get("secret")} == {
        s.key for s in ALL_SETTINGS if s.secret
    }
    assert spec["language"]["python"]["packageName"] != "pulumi_dfns"
