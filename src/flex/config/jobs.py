"""The parameters of each job: exactly what its code reads that changes its output.

The study plan (`flex.plan`) builds one of these per job from the study configuration, and the
workflow passes it to the job as JSON in `params`: a change in one of its values reruns the job,
a change anywhere else does not. Settings of how a job runs (`ExecutionConfig`) travel beside it,
never inside. A stage rebuilds its job with `build(JobClass, json.loads(text))`, which names
unknown and missing keys.
"""

from __future__ import annotations

import dataclasses

from flex.config.sections import (
    CoarsenConfig,
    PhysicsConfig,
    SimulateConfig,
    TrainSettings,
)

STUDIES = ("main", "steps", "boundary")
"""What a sample file belongs to: the main comparison, the sampling-steps study, or the zero-shot
test under held-out boundaries (kept apart, so that the main figures and tables never mix them)."""

BOUNDARIES = ("periodic", "channel")
"""Boundary conditions of a simulation: the doubly periodic box of every training trajectory, and
the held-out ones (`held_out_boundary.boundaries`): `channel`, no-slip walls at y = 0 and L."""

SPLIT_NAMES = {False: "in_distribution", True: "held_out"}
"""The `split` attribute of the files of a test trajectory, by whether its Re is held out."""

BOUNDARY_SPLIT = "held_out_boundary"
"""The `split` of the files of a trajectory under a held-out boundary (whatever its Re)."""

WALL_REGIONS = {"wall": True, "interior": False}
"""Subsets of the evaluation patches of a wall-bounded trajectory, by whether a patch touches a
wall: the summary scores each as the split `held_out_boundary_{region}`."""


@dataclasses.dataclass(frozen=True)
class SimulationJob:
    """One (Reynolds number, seed) trajectory, in the periodic box or under a held-out boundary
    (`BOUNDARIES`), whose finite-volume solver steps with `boundary_time_stepper`."""

    physics: PhysicsConfig
    simulate: SimulateConfig
    reynolds_number: float
    seed: int
    boundary: str = "periodic"
    boundary_time_stepper: str | None = None

    @property
    def viscosity(self) -> float:
        """nu = 1 / Re (lengths and velocities in units of the box and forcing)."""
        return 1.0 / self.reynolds_number


@dataclasses.dataclass(frozen=True)
class CoarsenJob:
    """The method and factor (the input file is given separately)."""

    coarsen: CoarsenConfig


@dataclasses.dataclass(frozen=True)
class StatisticsJob:
    """The training split: the stage refuses an input file whose own (Re, seed) is not in it."""

    train_reynolds_numbers: tuple[float, ...]
    train_seeds: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class TrainJob:
    """One (task, model): its settings, the tasks it learns with the patch side of each, its Re
    scale, and the trajectories of the training and validation splits (held-out Re and test
    seeds are not in it) under `boundaries` (`BOUNDARIES`: the periodic box, or the held-out
    boundaries for a model trained on walls). `task` labels the job: the task, or
    `flex.kinds.MULTITASK` for a multi-task model, which learns all the study's `tasks` at once."""

    task: str
    model: str
    settings: TrainSettings
    tasks: tuple[str, ...]
    patch_sizes: tuple[int, ...]
    reynolds_scale: float
    train_reynolds_numbers: tuple[float, ...]
    train_seeds: tuple[int, ...]
    validation_seeds: tuple[int, ...]
    boundaries: tuple[str, ...] = ("periodic",)

    def patch(self, task: str) -> int:
        """The patch side of `task`'s examples."""
        return self.patch_sizes[self.tasks.index(task)]


@dataclasses.dataclass(frozen=True)
class EnsembleSettings:
    """What a diffusion model's ensemble depends on: steps, members, the noise seed and the
    sampler's eta (0: deterministic DDIM)."""

    sampling_steps: int
    ensemble_size: int
    seed: int
    eta: float


@dataclasses.dataclass(frozen=True)
class SampleJob:
    """One model on one test trajectory (and one variable). A trained model's patch size,
    normalisation, Reynolds scale and coarsening factor come from its checkpoint; `patch_size` is
    set for the trivial baselines only, `ensemble` for diffusion models only, `horizon` is 1 for
    super-resolution; `boundary` is the test trajectory's (`BOUNDARIES`)."""

    task: str
    model: str
    variable: str
    study: str
    reynolds_number: float
    seed: int
    held_out: bool
    evaluation_snapshot_stride: int
    max_samples: int | None
    horizon: int
    patch_size: int | None = None
    ensemble: EnsembleSettings | None = None
    boundary: str = "periodic"

    @property
    def split(self) -> str:
        return BOUNDARY_SPLIT if self.boundary != "periodic" else SPLIT_NAMES[self.held_out]


@dataclasses.dataclass(frozen=True)
class FiguresJob:
    """What the figures stage draws (the figures and tables the study plan chose) and how;
    `sampling_steps`: the study's (the cost at which the calibration study judges its target)."""

    dpi: int
    example_reynolds_number: float
    example_sample: int
    main_model: str
    figures: tuple[str, ...]
    tasks: tuple[str, ...]
    sampling_steps: int
