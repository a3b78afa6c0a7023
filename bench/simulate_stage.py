"""The simulate stage against a bare jax-cfd loop, and its peak memory against trajectory length.

    python bench/simulate_stage.py [--grid 256] [--snapshots 100]

1. Throughput: the whole stage (`flex.simulate.run.run`: initial condition, compile, solver,
   diagnostics, checks, progress bar, NetCDF streaming) against a bare loop of the same solver
   (jax-cfd's crank_nicolson_rk4 over our equation, same grid, dt and number of steps, compiled
   as one fori_loop, no output), both timed from a cold start in the same process, compile
   included on both sides. Target: stage / bare rate >= 0.9.
2. Memory: peak RSS of a fresh process running the stage for N and 4N snapshots. Streaming keeps
   it independent of N (the file grows, the process does not).
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def job_for(grid: int, snapshots: int):
    from flex.config import SimulationJob
    from flex.config.load import load_study

    raw = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    raw = copy.deepcopy(raw)
    raw["simulate"].update(grid_size=grid, num_snapshots=snapshots)
    study = load_study(raw, ROOT / "config/schema.yaml")
    return SimulationJob(study.physics, study.simulate, 1000.0, 1), study.execution.simulate


def bare_loop_seconds(job) -> tuple[float, int]:
    import jax

    from flex.simulate.solver import Solver, configure_jax

    configure_jax(job.simulate)
    start = time.perf_counter()
    solver = Solver(job)
    timing = solver.timing
    steps = (timing.spinup_saves + job.simulate.num_snapshots) * timing.steps_per_save
    loop = jax.jit(lambda s: jax.lax.fori_loop(0, steps, lambda _, x: solver.step(x), s))
    jax.block_until_ready(loop(solver.initial_state()))
    return time.perf_counter() - start, steps


def stage_seconds(job, output: Path) -> float:
    from flex.simulate.run import run

    start = time.perf_counter()
    run(*job, output, progress=True)
    return time.perf_counter() - start


def peak_rss_mb(grid: int, snapshots: int, output: Path) -> float:
    code = (
        "import sys, json, resource; sys.path.insert(0, sys.argv[1]);"
        "from bench.simulate_stage import job_for; from flex.simulate.run import run;"
        "run(*job_for(int(sys.argv[2]), int(sys.argv[3])), sys.argv[4], progress=False);"
        "print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(ROOT), str(grid), str(snapshots), str(output)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", type=int, default=256)
    parser.add_argument("--snapshots", type=int, default=100)
    parser.add_argument("--memory-grid", type=int, default=256)
    parser.add_argument("--memory-snapshots", type=int, default=50)
    args = parser.parse_args()
    job, execution = job_for(args.grid, args.snapshots)
    with tempfile.TemporaryDirectory() as scratch:
        output = Path(scratch) / "trajectory.nc"
        bare, steps = bare_loop_seconds(job)
        stage = stage_seconds((job, execution), output)
        size_mb = output.stat().st_size / 2**20
        print(f"grid {args.grid}^2, {steps} steps, {args.snapshots} snapshots ({size_mb:.0f} MB)")
        print(f"bare jax-cfd loop: {bare:.1f} s = {steps / bare:.0f} steps/s")
        print(f"simulate stage:    {stage:.1f} s = {steps / stage:.0f} steps/s")
        print(f"stage / bare throughput ratio: {bare / stage:.3f} (target >= 0.9)")
        n = args.memory_snapshots
        for snapshots in (n, 4 * n):
            rss = peak_rss_mb(args.memory_grid, snapshots, Path(scratch) / f"m{snapshots}.nc")
            file_mb = (Path(scratch) / f"m{snapshots}.nc").stat().st_size / 2**20
            print(f"peak RSS, {args.memory_grid}^2 x {snapshots} snapshots "
                  f"(file {file_mb:.0f} MB): {rss:.0f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
