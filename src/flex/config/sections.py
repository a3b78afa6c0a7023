"""Typed, frozen configuration objects: one dataclass per section of config/schema.yaml.

`build(cls, data, path)` turns a (validated) mapping into the dataclass, refusing unknown and
missing keys by name, so that a stage given a job description by the command line checks it too.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from flex.config.errors import ConfigError

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    name: str
    description: str = ""


@dataclasses.dataclass(frozen=True)
class PhysicsConfig:
    """Forced 2D Navier-Stokes; viscosity nu = 1 / Re is set per trajectory."""

    domain_length: float
    drag: float
    forcing_wavenumber: int
    forcing_amplitude: float


@dataclasses.dataclass(frozen=True)
class ReynoldsNumbersConfig:
    train: tuple[float, ...]
    held_out: tuple[float, ...]

    @property
    def all(self) -> tuple[float, ...]:
        """Every Reynolds number of the study, sorted."""
        return tuple(sorted({*self.train, *self.held_out}))


@dataclasses.dataclass(frozen=True)
class SeedsConfig:
    train: tuple[int, ...]
    validation: tuple[int, ...]
    test: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class SimulateConfig:
    grid_size: int
    dtype: str
    time_stepper: str
    dealias: bool
    courant_number: float
    max_velocity: float
    time_step: float | None
    courant_abort: float
    spinup_time: float
    save_interval: float
    num_snapshots: int
    evaluation_num_snapshots: int | None
    initial_peak_wavenumber: float
    initial_max_velocity: float
    jax_threefry_partitionable: bool
    resolution_band_start: float
    resolution_max_enstrophy_fraction: float
    compression: str
    storage_tile: int

    def snapshots(self, split: str) -> int:
        """Snapshots saved per trajectory of `split` (`flex.data.splits.SPLITS`): `num_snapshots`
        for training, `evaluation_num_snapshots` (when set) for validation and test, which need
        only as many as their patches and rollouts read."""
        if split == "train" or self.evaluation_num_snapshots is None:
            return self.num_snapshots
        return self.evaluation_num_snapshots

    def for_split(self, split: str) -> SimulateConfig:
        """The settings of one trajectory of `split`: `num_snapshots` its own count, the
        evaluation count resolved away, so that a simulation job's parameters hold only what it
        computes (a new evaluation count reruns no training trajectory)."""
        return dataclasses.replace(
            self, num_snapshots=self.snapshots(split), evaluation_num_snapshots=None
        )


@dataclasses.dataclass(frozen=True)
class HeldOutBoundaryConfig:
    """Test trajectories of the same flow under boundary conditions no model is trained on
    (`flex.simulate.channel`): at each of `reynolds_numbers` (among the study's), one per test
    seed, for each of `boundaries`; `time_stepper` is the finite-volume solver's scheme."""

    boundaries: tuple[str, ...]
    reynolds_numbers: tuple[float, ...]
    time_stepper: str


@dataclasses.dataclass(frozen=True)
class CoarsenConfig:
    method: str
    coarsen_factor: int


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Task examples: patch side (fine pixels), Re scale, evaluation snapshot stride.

    `patch_size` is one side for every task, or a mapping task -> side."""

    patch_size: Any
    reynolds_scale: float
    evaluation_snapshot_stride: int

    def patch(self, task: str) -> int | None:
        """Side (fine pixels) of the square patches of `task`'s examples (None: not given)."""
        if isinstance(self.patch_size, Mapping):
            return self.patch_size.get(task)
        return self.patch_size

    def patch_key(self, task: str) -> str:
        """The configuration key that sets `task`'s patch side."""
        mapping = isinstance(self.patch_size, Mapping)
        return f"data.patch_size.{task}" if mapping else "data.patch_size"


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """Training of one (task, model) job (docs/method.md, "Training"): what changes its result."""

    model_size: str
    optimizer: str
    learning_rate: float
    betas: tuple[float, ...]
    weight_decay: float
    warmup_steps: int
    lr_schedule: str
    steps: int
    batch_size: int
    ranks: int
    grad_clip: float
    ema_decay: float
    loss: str
    logsnr_shift: float
    dropout: float
    validation_every: int
    validation_batches: int
    validation_members: int
    precision: str
    seed: int
    crps_members: int | None  # flex_crps only (the plan sets None in the other models' jobs)
    crps_steps: int | None
    init_from: str | None  # fine-tuning: start from this model's trained weights (same task)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    tasks: tuple[str, ...]
    models: tuple[str, ...]
    defaults: TrainSettings
    overrides: dict

    def settings(self, task: str, model: str) -> TrainSettings:
        """`defaults` with the "task/model" override applied."""
        override = self.overrides.get(f"{task}/{model}", {})
        return dataclasses.replace(
            self.defaults,
            **{k: tuple(v) if isinstance(v, list) else v for k, v in override.items()},
        )


@dataclasses.dataclass(frozen=True)
class SampleConfig:
    sampling_steps: int
    ensemble_size: int
    max_samples: int | None
    horizon: int
    zero_shot_variables: tuple[str, ...]
    steps_study: tuple[int, ...]
    steps_study_etas: tuple[float, ...]
    steps_study_samples: int
    steps_study_horizon: int
    seed: int
    eta: float


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    rank_stride: int


@dataclasses.dataclass(frozen=True)
class FiguresConfig:
    dpi: int
    example_reynolds_number: float | None
    example_sample: int


@dataclasses.dataclass(frozen=True)
class EnvironmentFiles:
    """The conda environment file of each family of rules (`--sdm conda`), relative to the
    repository: `sim` (simulate, coarsen, statistics), `torch` (train, sample), `analysis`
    (evaluate, summary, figures)."""

    sim: str
    torch: str
    analysis: str


@dataclasses.dataclass(frozen=True)
class SimulateExecution:
    device: str
    snapshots_per_chunk: int


@dataclasses.dataclass(frozen=True)
class CoarsenExecution:
    snapshots_per_chunk: int


@dataclasses.dataclass(frozen=True)
class TrainExecution:
    device: str
    num_workers: int
    compile: bool
    checkpoint_every: int


@dataclasses.dataclass(frozen=True)
class SampleExecution:
    device: str
    batch_size: int


@dataclasses.dataclass(frozen=True)
class EvaluateExecution:
    samples_per_chunk: int


@dataclasses.dataclass(frozen=True)
class ExecutionConfig:
    """How jobs run: devices, chunk sizes, batch sizes of inference, data-loader workers,
    checkpoint interval. None of them changes a result beyond floating-point rounding (device,
    compile, batch composition, summation order) or at all (the rest), so they are not parameters
    of the jobs: changing one reruns nothing. Every output records the values that made it."""

    environments: EnvironmentFiles
    simulate: SimulateExecution
    coarsen: CoarsenExecution
    train: TrainExecution
    sample: SampleExecution
    evaluate: EvaluateExecution


@dataclasses.dataclass(frozen=True)
class StudyConfiguration:
    """The whole study, as config/config.yaml describes it (after validation)."""

    study: StudyConfig
    physics: PhysicsConfig
    reynolds_numbers: ReynoldsNumbersConfig
    seeds: SeedsConfig
    simulate: SimulateConfig
    held_out_boundary: HeldOutBoundaryConfig
    coarsen: CoarsenConfig
    data: DataConfig
    train: TrainConfig
    sample: SampleConfig
    evaluate: EvaluateConfig
    figures: FiguresConfig
    execution: ExecutionConfig


def _convert(hint: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, path)
    if origin is tuple:
        (item,) = {a for a in typing.get_args(hint) if a is not Ellipsis}
        return tuple(_convert(item, v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        return _convert(inner, value, path)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def build(cls: type[T], data: Mapping[str, Any], path: str = "") -> T:
    """Build dataclass `cls` from `data`, naming unknown and missing keys in the error."""
    if not isinstance(data, Mapping):
        raise ConfigError([f"'{path or '<top level>'}' must be a mapping, got {data!r}"])
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    prefix = f"{path}." if path else ""
    problems = [
        f"unknown key '{prefix}{k}'; allowed keys: {', '.join(fields)}"
        for k in data
        if k not in fields
    ]
    problems += [
        f"missing key '{prefix}{name}'"
        for name, f in fields.items()
        if name not in data
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if problems:
        raise ConfigError(problems)
    kwargs = {k: _convert(hints[k], v, prefix + k) for k, v in data.items()}
    return cls(**kwargs)


def to_dict(obj: Any) -> dict[str, Any]:
    """Plain JSON-able dict of a config dataclass (tuples become lists)."""
    return _plain(dataclasses.asdict(obj))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
