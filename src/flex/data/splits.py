"""Which trajectory belongs to which split. The single source of truth for the workflow and loaders.

- train:      training Reynolds numbers x `seeds.train`
- validation: training Reynolds numbers x `seeds.validation`
- test:       every Reynolds number (training and held-out) x `seeds.test`

Seeds are disjoint across splits (config check), so no trajectory is in two splits; held-out
Reynolds numbers appear only in `test`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from flex.config import ReynoldsNumbersConfig, SeedsConfig

SPLITS = ("train", "validation", "test")


@dataclasses.dataclass(frozen=True, order=True)
class Trajectory:
    reynolds_number: float
    seed: int
    split: str
    held_out: bool = False


def trajectories(
    reynolds: ReynoldsNumbersConfig, seeds: SeedsConfig, split: str
) -> list[Trajectory]:
    """The trajectories of one split, sorted by (Reynolds number, seed)."""
    if split == "train":
        runs = [(re, s, False) for re in reynolds.train for s in seeds.train]
    elif split == "validation":
        runs = [(re, s, False) for re in reynolds.train for s in seeds.validation]
    elif split == "test":
        runs = [(re, s, re in reynolds.held_out) for re in reynolds.all for s in seeds.test]
    else:
        raise ValueError(f"split {split!r} is not one of {SPLITS}")
    return sorted(Trajectory(float(re), int(s), split, held) for re, s, held in runs)


def all_trajectories(reynolds: ReynoldsNumbersConfig, seeds: SeedsConfig) -> list[Trajectory]:
    return [t for split in SPLITS for t in trajectories(reynolds, seeds, split)]


def check_membership(
    found: Iterable[tuple[float, int]], split: str, allowed: Iterable[Trajectory]
) -> None:
    """Refuse any (Reynolds number, seed) in `found` that is not one of the `allowed` trajectories."""
    allowed_pairs = {(t.reynolds_number, t.seed) for t in allowed}
    strangers = sorted({(float(re), int(s)) for re, s in found} - allowed_pairs)
    if strangers:
        raise ValueError(
            f"trajectories (Re, seed) {strangers} are not in the {split!r} split; "
            f"allowed: {sorted(allowed_pairs)}"
        )
