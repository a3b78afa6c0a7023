"""Examples of several tasks from the same snapshots: the training data of a multi-task model.

Example i is {task: that task's example (`TaskExamples.example`)}, every task's drawn at the same
trajectory, frame t and patch corner (y0, x0), as the authors' multi-task training builds the
super-resolution example of frame t and the forecasting example of frames t-1, t -> t+1 from one
batch of snapshots. The draw is seeded by (seed, epoch, index) as in `TaskExamples`; the frame is
one that every task can use (fc needs t-1 and t+1), the corner lies on the grid of every task's
corner stride (the coarse grid when sr is among them). A task with a smaller patch than another
takes its patch at the same corner, inside the larger one.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from flex.data.examples import TaskExamples, random_location


class MultiTaskExamples(torch.utils.data.Dataset):
    """Random examples of every task of `parts` (train mode, the same trajectories), drawn alike."""

    def __init__(self, parts: dict[str, TaskExamples], examples_per_epoch: int, seed: int):
        if not parts or examples_per_epoch < 1:
            raise ValueError("needs at least one task and examples_per_epoch >= 1")
        first = next(iter(parts.values()))
        for task, examples in parts.items():
            if examples.mode != "train":
                raise ValueError(f"task {task}: the examples of a multi-task model are drawn at "
                                 f"random (mode 'train'), not {examples.mode!r}")  # fmt: skip
            if ([f.trajectory for f in examples.files] != [f.trajectory for f in first.files]
                    or examples.lengths != first.lengths or examples.grid != first.grid):  # fmt: skip
                raise ValueError(f"the examples of {task} and {first.task} come from other "
                                 "trajectories or grids")  # fmt: skip
        self.parts, self.examples_per_epoch = parts, examples_per_epoch
        self.seed, self.epoch = seed, 0
        self.stride = math.lcm(*(p.corner_stride for p in parts.values()))
        self.times = [range(max(p.valid_times(n).start for p in parts.values()),
                            min(p.valid_times(n).stop for p in parts.values()))
                      for n in first.lengths]  # fmt: skip
        if any(len(t) == 0 for t in self.times):
            raise ValueError(f"a trajectory of {first.lengths} snapshots has no frame that every "
                             f"task of {list(parts)} can use")  # fmt: skip

    @property
    def factor(self) -> int:
        """The coarsening factor of the super-resolution examples (1 without them)."""
        return max(p.factor for p in self.parts.values())

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.examples_per_epoch

    def locate(self, index: int) -> tuple[int, int, int, int]:
        """(file, time, y0, x0) shared by every task's example `index`."""
        rng = np.random.default_rng((self.seed, self.epoch, index))
        return random_location(rng, self.times, next(iter(self.parts.values())).grid, self.stride)

    def __getitem__(self, index: int) -> dict[str, dict[str, torch.Tensor]]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        where = self.locate(index)
        return {task: examples.example(*where) for task, examples in self.parts.items()}
