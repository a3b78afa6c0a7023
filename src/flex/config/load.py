"""Load and check a study configuration: the JSON schema, then the cross-field rules.

    study = load_study(yaml_mapping, schema_path)   # raises ConfigError naming key, value, rule

Used by the workflow at parse time (before any job starts) and by `flex check-config`, which
reads a file as Snakemake does: `--configfile FILE` is merged over config/config.yaml key by key
(`merged`), so a partial file takes the default study's values for what it leaves out. A file
that sets one of the `REPLACED` mappings sets the whole of it: per-job overrides name one study's
jobs, so the default study's never leak into another study (the workflow applies the same rule:
`layered`, called from workflow/rules/common.smk).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from flex.config.checks import cross_field_problems
from flex.config.errors import ConfigError
from flex.config.schema import schema_problems
from flex.config.sections import StudyConfiguration, build

REPOSITORY = Path(__file__).resolve().parents[3]
SCHEMA = REPOSITORY / "config" / "schema.yaml"
DEFAULT_STUDY = REPOSITORY / "config" / "config.yaml"
"""The schema and the default study of the repository this package lives in."""


def load_study(
    config: Mapping[str, Any], schema_path: str | Path, source: str = "config"
) -> StudyConfiguration:
    """Validate `config` against the schema and the cross-field rules; return the typed study."""
    if not isinstance(config, Mapping):
        raise ConfigError([f"the configuration must be a mapping of sections, got {config!r}"],
                          source)  # fmt: skip
    problems = schema_problems(config, read_yaml(schema_path, "schema"))
    if problems:
        raise ConfigError(problems, source)
    study = build(StudyConfiguration, config)
    problems = cross_field_problems(study)
    if problems:
        raise ConfigError(problems, source)
    return study


def read_yaml(path: str | Path, what: str = "configuration") -> Any:
    """The YAML document at `path`; a missing, unreadable or malformed file is a ConfigError."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError([f"{what} file {path} does not exist"], str(path)) from None
    except IsADirectoryError:
        raise ConfigError(
            [f"{what} file {path} is a directory, not a YAML file"], str(path)
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError([f"cannot read {what} file {path} ({error})"], str(path)) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError([f"{path} is not valid YAML{line}: {problem}"], str(path)) from None


REPLACED = frozenset({("train", "overrides")})
"""Mappings that a configuration file replaces as a whole instead of merging into."""


def merged(
    default: Mapping[str, Any], override: Mapping[str, Any], _path: tuple[str, ...] = ()
) -> dict[str, Any]:
    """`override` merged over `default` key by key, recursively (Snakemake's --configfile), but
    for the `REPLACED` mappings, which `override` replaces whole where it sets them."""
    out = copy.deepcopy(dict(default))
    for key, value in override.items():
        path = (*_path, key)
        if (isinstance(value, Mapping) and isinstance(out.get(key), Mapping)
                and path not in REPLACED):  # fmt: skip
            out[key] = merged(out[key], value, path)
        else:
            out[key] = copy.deepcopy(value)
    return out


def layered(default: Mapping[str, Any], *overrides: Mapping[str, Any]) -> dict[str, Any]:
    """`default`, then each of `overrides` merged over it in turn (`snakemake --configfile A B
    --config ...`: the default study, A, B, the command line)."""
    out = dict(default)
    for override in overrides:
        out = merged(out, override)
    return out


def inherited_keys(default: Mapping[str, Any], override: Mapping[str, Any], prefix: str = ""):
    """Dotted keys whose value comes from `default` because `override` leaves them out."""
    for key, value in default.items():
        name = f"{prefix}{key}"
        if key not in override:
            yield name
        elif isinstance(value, Mapping) and isinstance(override[key], Mapping):
            yield from inherited_keys(value, override[key], name + ".")


def load_study_file(
    path: str | Path, schema_path: str | Path = SCHEMA, default: str | Path | None = DEFAULT_STUDY
) -> tuple[StudyConfiguration, list[str]]:
    """The study `snakemake --configfile path` runs, and the keys it takes from `default`."""
    data = read_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError([f"{path} must hold a mapping of sections (physics:, simulate:, ...), "
                           f"not a {type(data).__name__}"], str(path))  # fmt: skip
    inherited: list[str] = []
    if default is not None and Path(default).resolve() != Path(path).resolve():
        base = read_yaml(default)
        inherited = list(inherited_keys(base, data))
        data = merged(base, data)
    return load_study(data, schema_path, source=str(path)), inherited
