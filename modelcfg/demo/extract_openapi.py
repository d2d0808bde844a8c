"""Regenerates openapi_excerpt.json: the request and response schemas of the operations the
fake serves, cut from GitHub's published OpenAPI description.

Source: the ``@octokit/openapi`` package (GitHub's own description, republished by the
Octokit project), file ``generated/api.github.com.deref.json`` (all ``$ref`` resolved).
Usage: ``python modelcfg/demo/extract_openapi.py PATH/api.github.com.deref.json VERSION``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# (method, path template, the success status whose body the fake returns)
OPERATIONS = [
    ("post", "/repos/{owner}/{repo}/check-runs", "201"),
    ("patch", "/repos/{owner}/{repo}/check-runs/{check_run_id}", "200"),
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}", "200"),
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}/comments", "200"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/comments", "201"),
    ("patch", "/repos/{owner}/{repo}/issues/comments/{comment_id}", "200"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/labels", "200"),
    ("delete", "/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}", "200"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}", "200"),
    ("post", "/repos/{owner}/{repo}/statuses/{sha}", "201"),
    ("get", "/repos/{owner}/{repo}/commits/{ref}/check-runs", "200"),
    ("get", "/repos/{owner}/{repo}/actions/runs/{run_id}/artifacts", "200"),
    ("get", "/repos/{owner}/{repo}/installation", "200"),
    ("post", "/app/installations/{installation_id}/access_tokens", "201"),
    ("post", "/repos/{owner}/{repo}/pulls", "201"),
    ("get", "/repos/{owner}/{repo}/pulls", "200"),
    ("get", "/repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format}", "302"),
    ("put", "/repos/{owner}/{repo}/pulls/{pull_number}/merge", "200"),
]
OUT = Path(__file__).with_name("openapi_excerpt.json")


def _slim(schema):
    """Descriptions and examples dropped (they are most of the bytes, and no rule); OpenAPI
    3.0's ``nullable: true`` spelt as JSON Schema's ``null`` type, which jsonschema reads."""
    if isinstance(schema, dict):
        out = {k: _slim(v) for k, v in schema.items()
               if k not in ("description", "example", "examples", "title", "nullable")}
        if schema.get("nullable") is True:
            if isinstance(out.get("type"), str):
                out["type"] = [out["type"], "null"]
                if "enum" in out:
                    out["enum"] = [*out["enum"], None]
            else:
                out = {"anyOf": [out, {"type": "null"}]}
        return out
    if isinstance(schema, list):
        return [_slim(v) for v in schema]
    return schema


def extract(spec: dict, version: str) -> dict:
    ops = {}
    for method, path, status in OPERATIONS:
        op = spec["paths"][path][method]
        body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
        # a redirect (an artifact's download) has no body: its response schema is None
        response = op["responses"][status].get("content", {}).get("application/json", {})
        ops[f"{method.upper()} {path}"] = {
            "operationId": op["operationId"], "status": int(status),
            "request": _slim(body.get("schema")), "response": _slim(response.get("schema"))}
    return {"source": f"@octokit/openapi {version}, generated/api.github.com.deref.json",
            "openapi": spec["info"]["version"], "operations": ops}


if __name__ == "__main__":
    spec = json.loads(Path(sys.argv[1]).read_text())
    OUT.write_text(json.dumps(extract(spec, sys.argv[2]), indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size:,} bytes)")
