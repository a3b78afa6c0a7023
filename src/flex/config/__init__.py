"""Study configuration: schema validation, cross-field checks and typed, frozen config objects.

    config = load_study(yaml_mapping, schema_path)   # raises ConfigError naming key, value, rule

Used by the Snakefile at parse time (before any job starts) and by `flex check-config`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from flex.config.checks import cross_field_problems
from flex.config.errors import ConfigError
from flex.config.schema import load_schema, schema_problems
from flex.config.sections import (
    CoarsenConfig,
    CoarsenJob,
    DataConfig,
    EvaluateConfig,
    FiguresConfig,
    PhysicsConfig,
    ReynoldsNumbersConfig,
    SampleConfig,
    SampleJob,
    SeedsConfig,
    SimulateConfig,
    SimulationJob,
    StatisticsJob,
    StudyConfiguration,
    TrainConfig,
    TrainJob,
    TrainSettings,
    build,
    to_dict,
)

__all__ = [
    "CoarsenConfig",
    "CoarsenJob",
    "ConfigError",
    "DataConfig",
    "EvaluateConfig",
    "FiguresConfig",
    "PhysicsConfig",
    "ReynoldsNumbersConfig",
    "SampleConfig",
    "SampleJob",
    "SeedsConfig",
    "SimulateConfig",
    "SimulationJob",
    "StatisticsJob",
    "StudyConfiguration",
    "TrainConfig",
    "TrainJob",
    "TrainSettings",
    "build",
    "load_study",
    "load_study_file",
    "reynolds_label",
    "to_dict",
]


def load_study(
    config: Mapping[str, Any], schema_path: str | Path, source: str = "config"
) -> StudyConfiguration:
    """Validate `config` against the schema and the cross-field rules; return the typed study."""
    problems = schema_problems(config, load_schema(schema_path))
    if problems:
        raise ConfigError(problems, source)
    study = build(StudyConfiguration, config)
    problems = cross_field_problems(study)
    if problems:
        raise ConfigError(problems, source)
    return study


def load_study_file(path: str | Path, schema_path: str | Path) -> StudyConfiguration:
    with open(path) as handle:
        data = yaml.safe_load(handle)
    return load_study(data if data is not None else {}, schema_path, source=str(path))


def reynolds_label(reynolds_number: float) -> str:
    """File-name form of a Reynolds number: 1000 -> '1000', 1500.5 -> '1500.5'."""
    return (
        f"{reynolds_number:g}"
        if reynolds_number != int(reynolds_number)
        else str(int(reynolds_number))
    )
