"""The wall-bounded solver's cost against the periodic one, measured in the same run.

    python bench/simulate_channel.py [--grids 64 128 256] [--saves 5] [--repeats 3]

For each grid: the default study's physics and simulate settings (float32, Re = 1000, CFL time
step), one job per boundary, `Solver.advance` over --saves save intervals after a warm-up
(compile) call; ms per solver step (best of --repeats) and the ratio channel / periodic. The
channel steps with jax-cfd's finite volumes: four projections (a fast-diagonalisation Poisson
solve by dense matrix products) per classic_rk4 step, against the periodic run's 5 explicit
stages of FFTs.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import jax

from flex.config import SimulationJob
from flex.config.load import load_study_file
from flex.simulate.run import make_solver
from flex.simulate.solver import configure_jax

REYNOLDS_NUMBER = 1000.0


def job_for(grid: int, boundary: str) -> SimulationJob:
    study, _ = load_study_file("config/config.yaml")
    simulate = dataclasses.replace(study.simulate, grid_size=grid)
    return SimulationJob(study.physics, simulate, REYNOLDS_NUMBER, 1, boundary,
                         study.held_out_boundary.time_stepper)  # fmt: skip


def milliseconds_per_step(job: SimulationJob, saves: int, repeats: int) -> float:
    configure_jax(job.simulate)
    solver = make_solver(job)
    state = solver.initial_state()
    jax.block_until_ready(solver.advance(state, saves))  # compile
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(solver.advance(state, saves))
        best = min(best, time.perf_counter() - start)
    return 1e3 * best / (saves * solver.timing.steps_per_save)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--saves", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print("| grid | periodic ms/step | channel ms/step | channel / periodic |")
    print("|---|---|---|---|")
    for grid in args.grids:
        periodic, channel = (milliseconds_per_step(job_for(grid, b), args.saves, args.repeats)
                             for b in ("periodic", "channel"))  # fmt: skip
        print(f"| {grid}^2 | {periodic:.3f} | {channel:.3f} | {channel / periodic:.2f} |")


if __name__ == "__main__":
    main()
