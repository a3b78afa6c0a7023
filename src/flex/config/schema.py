"""JSON-schema validation of the study configuration, with messages a user can act on.

Each jsonschema error becomes one line: the dotted key, the value given and what is allowed.
Stricter than plain JSON schema in two ways: a number must be finite (NaN passes every bound of
JSON schema, since comparisons with NaN are false, and YAML reads `.nan` and `.inf`), and an
integer must be written as one (`64.0` is not an integer here, though JSON schema counts it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import jsonschema


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
        return " or ".join(_alternative(branch) for branch in expected)
    return f"{kind}: {_show(expected)}"


def _alternative(branch: Mapping[str, Any]) -> str:
    """One branch of a oneOf, in words."""
    if "$ref" in branch:  # "#/$defs/positive_number" -> "a positive number"
        return "a " + branch["$ref"].rsplit("/", 1)[-1].replace("_", " ")
    kind = branch.get("type")
    if kind == "null":
        return "null"
    if kind == "object":
        return "a mapping"
    if "minimum" in branch:
        return f"an {kind} >= {branch['minimum']}"
    return f"a value of type {kind}"


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
    if "propertyNames" in error.schema_path:
        return [f"'{where}' has the key {_show(error.instance)}; allowed keys: {_allowed(error)}"]
    if error.validator == "oneOf":
        # the value has the type of one alternative: say what is wrong inside that one
        inside = [e for e in error.context or () if list(e.relative_schema_path)[1:] != ["type"]]
        if inside:
            return [line for e in inside for line in _describe(e)]
    return [f"'{where}' = {_show(error.instance)} is not allowed; expected {_allowed(error)}"]


def _is_integer(checker, instance) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


StrictValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer),
)
"""Draft 2020-12 in which only Python integers (not 64.0, not booleans) are integers."""


def non_finite_problems(value: Any, path: tuple = ()) -> list[str]:
    """One line per NaN or infinite number anywhere in `value`."""
    if isinstance(value, float) and not math.isfinite(value):
        return [f"'{dotted(path)}' = {value} is not allowed; expected a finite number"]
    if isinstance(value, Mapping):
        return [p for key, item in value.items() for p in non_finite_problems(item, (*path, key))]
    if isinstance(value, list | tuple):
        return [p for i, item in enumerate(value) for p in non_finite_problems(item, (*path, i))]
    return []


def schema_problems(config: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """All schema violations of `config`, one line each, in a stable order, each once."""
    errors = sorted(
        StrictValidator(schema).iter_errors(config),
        key=lambda e: (list(map(str, e.path)), e.message),
    )
    problems = non_finite_problems(config)
    for error in errors:
        problems.extend(line for line in _describe(error) if line not in problems)
    return problems
