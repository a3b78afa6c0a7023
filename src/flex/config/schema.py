"""JSON-schema validation of the study configuration, with messages a user can act on.

Each jsonschema error becomes one line: the dotted key, the value given and what is allowed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml


def load_schema(path: str | Path) -> dict[str, Any]:
    with open(path) as handle:
        return yaml.safe_load(handle)


def dotted(path) -> str:
    """`('simulate', 'grid_size')` -> `simulate.grid_size`; list indices as `[i]`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def _show(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else repr(value)


def _allowed(error: jsonschema.ValidationError) -> str:
    """What the failing schema keyword allows, in words."""
    kind, expected = error.validator, error.validator_value
    if kind == "type":
        return f"a value of type {expected}"
    if kind == "enum":
        return "one of " + ", ".join(_show(v) for v in expected)
    if kind == "minimum":
        return f"a number >= {expected}"
    if kind == "exclusiveMinimum":
        return f"a number > {expected}"
    if kind == "maximum":
        return f"a number <= {expected}"
    if kind == "exclusiveMaximum":
        return f"a number < {expected}"
    if kind == "minItems":
        return f"a list of at least {expected} item(s)"
    if kind == "uniqueItems":
        return "a list without repeated values"
    if kind == "multipleOf":
        return f"a multiple of {expected}"
    if kind == "pattern":
        return f"a string matching {expected}"
    if kind == "oneOf":
        return "null or a number > 0"
    return f"{kind}: {_show(expected)}"


def _describe(error: jsonschema.ValidationError) -> list[str]:
    where = dotted(error.absolute_path)
    if error.validator == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(known))
        return [
            f"unknown key '{dotted([*error.absolute_path, key])}' (value {_show(error.instance[key])}); "
            f"allowed keys in '{where}': {', '.join(known)}"
            for key in unknown
        ]
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        return [f"missing key '{dotted([*error.absolute_path, k])}'" for k in missing]
    return [f"'{where}' = {_show(error.instance)} is not allowed; expected {_allowed(error)}"]


def schema_problems(config: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """All schema violations of `config`, one line each, in a stable order."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(
        validator.iter_errors(config), key=lambda e: (list(map(str, e.path)), e.message)
    )
    problems: list[str] = []
    for error in errors:
        problems.extend(_describe(error))
    return problems
