"""Cross-field rules of the study configuration that JSON schema cannot express."""

from __future__ import annotations

from flex.config.sections import StudyConfiguration


def cross_field_problems(config: StudyConfiguration) -> list[str]:
    """Every violated cross-field rule, one line each (key, value, what is allowed)."""
    problems: list[str] = []
    grid, factor = config.simulate.grid_size, config.coarsen.coarsen_factor
    if grid % factor:
        problems.append(
            f"'simulate.grid_size' = {grid} is not divisible by 'coarsen.coarsen_factor' = {factor}; "
            f"allowed: a grid size that is a multiple of {factor}"
        )
    patch = config.data.patch_size
    if patch % factor:
        problems.append(
            f"'data.patch_size' = {patch} is not divisible by 'coarsen.coarsen_factor' = {factor}; "
            f"allowed: a multiple of {factor}"
        )
    if patch > grid:
        problems.append(
            f"'data.patch_size' = {patch} is larger than 'simulate.grid_size' = {grid}; "
            f"allowed: at most {grid}"
        )
    seeds = config.seeds
    splits = {"train": seeds.train, "validation": seeds.validation, "test": seeds.test}
    names = list(splits)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            shared = sorted(set(splits[first]) & set(splits[second]))
            if shared:
                problems.append(
                    f"seed(s) {shared} appear in both 'seeds.{first}' and 'seeds.{second}'; "
                    "allowed: disjoint seeds, so that no trajectory is in two splits"
                )
    reynolds = config.reynolds_numbers
    both = [_plain_number(x) for x in sorted(set(reynolds.train) & set(reynolds.held_out))]
    if both:
        problems.append(
            f"Reynolds number(s) {both} appear in both 'reynolds_numbers.train' and "
            "'reynolds_numbers.held_out'; allowed: held-out values that are not training values"
        )
    return problems


def _plain_number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value
