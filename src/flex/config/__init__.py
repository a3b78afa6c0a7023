"""Study configuration: typed, frozen config sections and the parameters of each job.

    from flex.config.load import load_study      # schema and cross-field checks (the workflow)
    from flex.config import TrainJob, build      # what a stage needs to read its job

Loading and checking a configuration (`flex.config.load`) is kept apart from the dataclasses, so
that the stages, which import only the latter, do not rerun when a check changes.
"""

from __future__ import annotations

from flex.config.errors import ConfigError
from flex.config.jobs import (
    BOUNDARIES,
    BOUNDARY_SPLIT,
    STUDIES,
    WALL_REGIONS,
    CoarsenJob,
    EnsembleSettings,
    FiguresJob,
    SampleJob,
    SimulationJob,
    StatisticsJob,
    TrainJob,
)
from flex.config.sections import (
    CoarsenConfig,
    CoarsenExecution,
    DataConfig,
    EnvironmentFiles,
    EvaluateConfig,
    EvaluateExecution,
    ExecutionConfig,
    FiguresConfig,
    HeldOutBoundaryConfig,
    PhysicsConfig,
    ReynoldsNumbersConfig,
    SampleConfig,
    SampleExecution,
    SeedsConfig,
    SimulateConfig,
    SimulateExecution,
    StudyConfiguration,
    TrainConfig,
    TrainExecution,
    TrainSettings,
    build,
    to_dict,
)

__all__ = [
    "BOUNDARIES",
    "BOUNDARY_SPLIT",
    "STUDIES",
    "WALL_REGIONS",
    "CoarsenConfig",
    "CoarsenExecution",
    "CoarsenJob",
    "ConfigError",
    "DataConfig",
    "EnsembleSettings",
    "EnvironmentFiles",
    "EvaluateConfig",
    "EvaluateExecution",
    "ExecutionConfig",
    "FiguresConfig",
    "FiguresJob",
    "HeldOutBoundaryConfig",
    "PhysicsConfig",
    "ReynoldsNumbersConfig",
    "SampleConfig",
    "SampleExecution",
    "SampleJob",
    "SeedsConfig",
    "SimulateConfig",
    "SimulateExecution",
    "SimulationJob",
    "StatisticsJob",
    "StudyConfiguration",
    "TrainConfig",
    "TrainExecution",
    "TrainJob",
    "TrainSettings",
    "build",
    "to_dict",
]
