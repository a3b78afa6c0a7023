"""Super-resolution and forecasting examples, streamed from NetCDF as a torch Dataset.

One example (fields normalised, x' = (x - mean) / std, by the training statistics of the field):

| key | sr | fc |
|---|---|---|
| `input` | (1, P, P) bicubic up-sampled coarse frame t | (2, P, P) fine frames t-1, t |
| `base` | (1, P, P) = input | (1, P, P) frame t |
| `target` | (1, P, P) fine frame t | (H, P, P) fine frames t+1 .. t+H (H = `horizon`, 1 in training) |
| `reynolds` | Re / `reynolds_scale` (the model's conditioning scalar) | same |

plus `reynolds_number`, `seed`, `time_index` and `corner` (y0, x0) to trace the example back. The
model learns the residual `target - base` (`residual`).

Modes (docs/method.md, "Data"):
- `train`: `examples_per_epoch` random patches; each draws a trajectory, a time and a corner from
  a generator seeded by (seed, epoch, index), so an example is the same whatever the number of
  DataLoader workers. Corners wrap periodically (but never across the walls of a wall-bounded
  trajectory, whose file records its `boundary`); for `sr` they lie on the coarse grid (multiples
  of the coarsening factor) so that the coarse patch is the coarse field's own, for `fc` anywhere.
- `evaluate`: every `evaluation_stride`-th valid time of every trajectory, each tiled by
  non-overlapping patches.

The coarsening factor of `sr` is the one the coarse files record (`coarsen_factor` attribute).

Files are opened lazily in each process (DataLoader workers included) and read a patch at a
time: the data set is never in memory.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Collection, Sequence
from pathlib import Path

import netCDF4
import numpy as np
import torch

from flex import dims
from flex.data.patches import read_patch, tiling_corners
from flex.data.splits import Trajectory, check_membership
from flex.data.upsample import bicubic_upsample
from flex.errors import StageFailure
from flex.io.netcdf import open_input, reading, require_finite, require_variables
from flex.kinds import TASKS

MODES = ("train", "evaluate")


def valid_times(task: str, length: int, horizon: int = 1) -> range:
    """Frames t of a trajectory of `length` snapshots with everything the task needs: fc uses
    t-1 and t+1 .. t+horizon."""
    return range(0, length) if task == "sr" else range(1, length - horizon)


def evaluation_index(task: str, lengths: list[int], grid: int, patch: int, stride: int,
                     horizon: int = 1) -> list[tuple[int, int, int, int]]:  # fmt: skip
    """(file, t, y0, x0) of every evaluation patch: every `stride`-th valid time of each
    trajectory (of `lengths` snapshots on a `grid`^2 grid), tiled by non-overlapping patches."""
    corners = tiling_corners(grid, patch)
    return [
        (f, t, y0, x0)
        for f, length in enumerate(lengths)
        for t in valid_times(task, length, horizon)[::stride]
        for y0, x0 in corners
    ]


@dataclasses.dataclass(frozen=True)
class TrajectoryFiles:
    """The files of one trajectory: fine (simulate) and coarse (coarsen) fields."""

    trajectory: Trajectory
    fine: Path
    coarse: Path | None = None


def recorded_trajectory(path: str | Path) -> tuple[float, int]:
    """The (Reynolds number, seed) that a simulation or coarse file records in its attributes."""
    with open_input(path) as ds:
        try:
            return float(ds.attrs["reynolds_number"]), int(ds.attrs["seed"])
        except KeyError as error:
            raise StageFailure(f"input file {path} lacks the attribute {error}") from None


def split_files(split: str, fine: list[Path], coarse: list[Path] | None = None,
                held_out: Collection[float] = ()) -> list[TrajectoryFiles]:  # fmt: skip
    """The trajectories of the given files, paired fine with coarse by their recorded (Re, seed)
    (the order of the lists does not matter); `held_out` Reynolds numbers are marked held out."""
    coarse_by_run = {recorded_trajectory(p): Path(p) for p in coarse or []}
    out = []
    for path in fine:
        re, seed = recorded_trajectory(path)
        partner = coarse_by_run.pop((re, seed), None)
        if coarse is not None and partner is None:
            raise StageFailure(
                f"no coarse file for the trajectory of {path} (Re={re:g}, seed={seed})"
            )
        out.append(
            TrajectoryFiles(Trajectory(re, seed, split, re in held_out), Path(path), partner)
        )
    if coarse_by_run:
        raise StageFailure(
            f"coarse files without their fine trajectory: {sorted(coarse_by_run.values())}"
        )
    return out


def random_location(rng: np.random.Generator, times: list[range], grid: int, stride: int,
                    walled: Sequence[bool] = (), patch: int = 0) -> tuple[int, int, int, int]:  # fmt: skip
    """(file, time, y0, x0): a trajectory, one of its `times[file]`, and a corner on the grid
    of multiples of `stride`, drawn from `rng`. Where `walled[file]` (walls at y = 0 and L), the
    patch of side `patch` never wraps across them: y0 <= grid - patch."""
    f = int(rng.integers(len(times)))
    t = int(times[f][rng.integers(len(times[f]))])
    if f < len(walled) and walled[f]:
        y0 = int(rng.integers((grid - patch) // stride + 1)) * stride
        return f, t, y0, int(rng.integers(grid // stride)) * stride
    y0, x0 = (int(c) * stride for c in rng.integers(grid // stride, size=2))
    return f, t, y0, x0


class _LazyFiles:
    """netCDF4 handles opened on first use in the current process, never inherited by a fork."""

    def __init__(self) -> None:
        self._pid: int | None = None
        self._handles: dict[Path, netCDF4.Dataset] = {}

    def variable(self, path: Path, name: str) -> netCDF4.Variable:
        if self._pid != os.getpid():
            self._pid, self._handles = os.getpid(), {}
        if path not in self._handles:
            with reading(path):
                handle = netCDF4.Dataset(path, "r")
            handle.set_auto_mask(False)
            self._handles[path] = handle
        return self._handles[path][name]

    def patch(self, path: Path, name: str, times: slice, y0: int, x0: int, size: int):
        """A periodic patch of `name`, every value checked finite (else the file is named)."""
        with reading(path):
            values = read_patch(self.variable(path, name), times, y0, x0, size)
        require_finite(values, path, f"{name} (patch at y={y0}, x={x0}, time from {times.start})",
                       dims.FIELD_DIMS, times.start)  # fmt: skip
        return values

    def __getstate__(self) -> dict:
        return {"_pid": None, "_handles": {}}


def residual(example: dict[str, torch.Tensor]) -> torch.Tensor:
    """What the model learns: target - base (normalised units)."""
    return example["target"] - example["base"]


class TaskExamples(torch.utils.data.Dataset):
    """Examples of one task from the trajectories of one split (see the module docstring);
    `boundaries`, where given, are those the files may record (others are refused)."""

    def __init__(
        self,
        task: str,
        files: list[TrajectoryFiles],
        split: str,
        allowed: Collection[Trajectory],
        *,
        patch_size: int,
        normalisation: tuple[float, float],
        reynolds_scale: float = 1.0,
        mode: str = "train",
        examples_per_epoch: int | None = None,
        seed: int = 0,
        evaluation_stride: int = 1,
        variable: str = "vorticity",
        horizon: int = 1,
        boundaries: Collection[str] | None = None,
    ) -> None:
        if task not in TASKS or mode not in MODES:
            raise ValueError(f"task {task!r} / mode {mode!r}: allowed {TASKS} / {MODES}")
        if horizon < 1 or (horizon > 1 and task != "fc"):
            raise ValueError(f"horizon {horizon}: allowed 1, or more for task 'fc' (rollouts)")
        if mode == "train" and not examples_per_epoch:
            raise ValueError("mode 'train' needs examples_per_epoch >= 1")
        trajectories = [f.trajectory for f in files]
        if not files:
            raise ValueError(f"no trajectories given for split {split!r}")
        if any(t.split != split for t in trajectories):
            raise ValueError(f"trajectories of other splits given as {split!r}: {trajectories}")
        check_membership([(t.reynolds_number, t.seed) for t in trajectories], split, allowed)
        if task == "sr" and any(f.coarse is None for f in files):
            raise ValueError("task 'sr' needs the coarse file of every trajectory")
        self.task, self.files, self.split, self.mode = task, list(files), split, mode
        self.variable, self.reynolds_scale = variable, reynolds_scale
        self.mean, self.std = normalisation
        self.examples_per_epoch, self.seed, self.epoch = examples_per_epoch, seed, 0
        self.patch, self.horizon, self.stride = patch_size, horizon, evaluation_stride
        self.factor, self.boundaries = 1, None if boundaries is None else tuple(boundaries)
        self._walled: list[bool] = []
        self._grid, self._lengths = self._inspect(allowed)
        self._index = self._evaluation_index() if mode == "evaluate" else []
        self._files = _LazyFiles()

    def _inspect(self, allowed: Collection[Trajectory]) -> tuple[int, list[int]]:
        """Grid and lengths of the files; the (Re, seed) that each file itself records must be
        one of the split's trajectories, whatever the caller labelled it."""
        lengths, grids, factors = [], set(), set()
        for f in self.files:
            for path in [f.fine] + ([f.coarse] if self.task == "sr" else []):
                with open_input(path) as ds:
                    require_variables(ds, path, [self.variable])
                    recorded = (ds.attrs["reynolds_number"], ds.attrs["seed"])
                    try:
                        check_membership([recorded], self.split, allowed)
                    except ValueError as error:
                        raise StageFailure(f"{path}: {error}") from error
                    boundary = str(ds.attrs.get("boundary", "periodic"))
                    if self.boundaries is not None and boundary not in self.boundaries:
                        raise StageFailure(
                            f"{path} lies under the boundary {boundary!r}; allowed here: "
                            f"{', '.join(self.boundaries)}"
                        )
                    if path == f.fine:
                        lengths.append(ds.sizes["time"])
                        grids.add(ds.sizes["y"])
                        self._walled.append(boundary != "periodic")
                    else:
                        factors.add(int(ds.attrs["coarsen_factor"]))
        if len(grids) != 1 or len(factors) > 1:
            raise StageFailure(f"trajectories have different grids {sorted(grids)} or coarsening "
                               f"factors {sorted(factors)}")  # fmt: skip
        grid = grids.pop()
        self.factor = factors.pop() if factors else 1
        if self.patch > grid or self.patch % self.factor:
            raise StageFailure(f"patch size {self.patch} does not fit the grid {grid} and the "
                               f"coarsening factor {self.factor}")  # fmt: skip
        return grid, lengths

    def valid_times(self, length: int) -> range:
        return valid_times(self.task, length, self.horizon)

    def _evaluation_index(self) -> list[tuple[int, int, int, int]]:
        return evaluation_index(self.task, self._lengths, self._grid, self.patch, self.stride,
                                self.horizon)  # fmt: skip

    def set_epoch(self, epoch: int) -> None:
        """Draw other random patches in the next epoch (train mode)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.examples_per_epoch if self.mode == "train" else len(self._index)

    @property
    def grid(self) -> int:
        return self._grid

    @property
    def lengths(self) -> list[int]:
        """Snapshots of each trajectory, in the order of `files`."""
        return list(self._lengths)

    @property
    def corner_stride(self) -> int:
        """Random corners are multiples of this: the coarsening factor for sr, else 1."""
        return self.factor if self.task == "sr" else 1

    def locate(self, index: int) -> tuple[int, int, int, int]:
        """(file, time, y0, x0) of example `index`."""
        if self.mode == "evaluate":
            return self._index[index]
        return random_location(np.random.default_rng((self.seed, self.epoch, index)),
                               [self.valid_times(n) for n in self._lengths], self._grid,
                               self.corner_stride, self._walled, self.patch)  # fmt: skip

    def _normalised(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy((array - self.mean) / self.std).float()

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.example(*self.locate(index))

    def example(self, f: int, t: int, y0: int, x0: int) -> dict[str, torch.Tensor]:
        """The example of trajectory `f` at frame t, patch corner (y0, x0)."""
        files, size = self.files[f], self.patch
        read = self._files.patch
        if self.task == "sr":
            factor = self.factor
            low = read(files.coarse, self.variable, slice(t, t + 1), y0 // factor, x0 // factor,
                       size // factor)  # fmt: skip
            inputs = bicubic_upsample(self._normalised(low), factor)  # (1, P, P)
            base = inputs
            target = self._normalised(read(files.fine, self.variable, slice(t, t + 1), y0, x0,
                                           size))  # fmt: skip
        else:
            frames = self._normalised(read(files.fine, self.variable,
                                           slice(t - 1, t + 1 + self.horizon), y0, x0, size))  # fmt: skip
            inputs, base, target = frames[0:2], frames[1:2], frames[2:]
        trajectory = files.trajectory
        return {
            "input": inputs,
            "base": base,
            "target": target,
            "reynolds": torch.tensor(
                trajectory.reynolds_number / self.reynolds_scale, dtype=torch.float32
            ),
            "reynolds_number": torch.tensor(trajectory.reynolds_number, dtype=torch.float64),
            "seed": torch.tensor(trajectory.seed),
            "time_index": torch.tensor(t),
            "corner": torch.tensor([y0, x0]),
        }
