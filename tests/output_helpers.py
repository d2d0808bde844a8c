"""The JSON contract of command outputs, for tests: a document of one kind carries its
``format`` and holds to the schema the package ships (`modelcfg schema --output KIND`)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from modelcfg.cli.outputs import format_of

SCHEMAS = Path(__file__).resolve().parents[1] / "modelcfg/cli/schemas"


def check_output(kind: str, out: str) -> dict:
    """``out`` is one JSON document of ``kind``: its format and its schema hold."""
    doc = json.loads(out)
    schema = json.loads((SCHEMAS / f"{kind}.schema.json").read_text())
    jsonschema.validate(doc, schema, cls=jsonschema.Draft202012Validator)
    assert doc["format"] == format_of(kind)
    return doc
