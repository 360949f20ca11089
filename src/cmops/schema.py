"""JSON Schemas (2020-12) shipped in the package; validation errors become findings."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import jsonschema_rs

from cmops.findings import Finding
from cmops.yamlfile import Document

if TYPE_CHECKING:
    # The Python validator is imported only to explain an invalid document (rare), which
    # keeps it out of the start-up of plan and publish.
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

#: Schema name -> workspace files it describes (used by ``init`` for editor hints).
SCHEMAS = {
    "cmops": "cmops.yaml",
    "post": "content/posts/**/*.md",
    "calendar": "content/calendars/*.yaml",
    "responses": "policies/responses.yaml",
    "response-tests": "policies/tests/*.yaml",
    "voice": "policies/voice.yaml",
    "approvals": "policies/approvals.yaml",
}

_CODES = {
    "additionalProperties": "schema.unknown-key",
    "required": "schema.required",
    "type": "schema.type",
    "enum": "schema.enum",
    "const": "schema.enum",
    "pattern": "schema.pattern",
    "propertyNames": "schema.bad-name",
}


def schema_text(name: str) -> str:
    return resources.files("cmops.schemas").joinpath(f"{name}.schema.json").read_text("utf-8")


@cache
def validator(name: str) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    schema = json.loads(schema_text(name))
    return Draft202012Validator(schema)


@cache
def _fast(name: str) -> jsonschema_rs.Draft202012Validator:
    return jsonschema_rs.Draft202012Validator(json.loads(schema_text(name)))


def validate(doc: Document, name: str) -> list[Finding]:
    """Findings for every schema violation in ``doc``, each at its line.

    The Rust validator answers "valid?" some 40x faster, which is what keeps 10,000 posts
    quick; the Python one explains the (rare) invalid documents with paths and messages.
    """
    if _fast(name).is_valid(doc.data):
        return []
    check = validator(name)
    findings = []
    for error in check.iter_errors(doc.data):
        findings.extend(_to_findings(doc, error))
    return sorted(set(findings))


def _to_findings(doc: Document, error: ValidationError) -> list[Finding]:
    from jsonschema.exceptions import best_match

    if error.validator in ("oneOf", "anyOf", "allOf", "if", "then") and error.context:
        best = best_match(error.context)
        if best is not None:
            return _to_findings(doc, best)
    path = list(error.absolute_path)
    code = _CODES.get(str(error.validator), f"schema.{error.validator}")
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {})) if isinstance(error.schema, dict) else set()
        findings = []
        for key in error.instance:
            if key not in allowed:
                hint = f"; allowed: {', '.join(sorted(allowed))}" if allowed else ""
                findings.append(
                    doc.finding(
                        [*path, key], code, f"unknown key {key!r} in {_where(path)}{hint}", key=True
                    )
                )
        if findings:
            return findings
    if "propertyNames" in error.schema_path and isinstance(error.instance, str):
        return [doc.finding([*path, error.instance], "schema.bad-name",
                            f"{_where(path)}: {error.instance!r} is not a valid name here "
                            "(lower-case letters, digits, '-' and '_')", key=True)]
    return [doc.finding(path, code, f"{_where(path)}: {_message(error)}")]


def _where(path: list[Any]) -> str:
    return ".".join(str(p) for p in path) if path else "top level"


def _message(error: ValidationError) -> str:
    text = _full_message(error)
    return text if len(text) <= 300 else text[:297] + "..."


def _full_message(error: ValidationError) -> str:
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "pattern" and "description" in schema:
        return f"{error.instance!r} is not valid. {schema['description']}"
    if error.validator == "enum":
        options = ", ".join(str(v) for v in schema.get("enum", []))
        return f"{error.instance!r} is not one of: {options}"
    return error.message
