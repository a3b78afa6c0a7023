"""Solver speed: steps/s per grid, and one step against the FFTs it minimally needs.

    python bench/simulate_solver.py [--grids 64 128 256 512] [--steps 200] [--repeats 3]

For each grid (float32, Re = 1000, Kolmogorov forcing, crank_nicolson_rk4 with 5 explicit stages):
- steps/s and grid points x steps/s of our `ForcedVorticityEquation` and of jax-cfd's
  `NavierStokes2D` + `kolmogorov_forcing` (the same equation), each compiled as one fori_loop;
- the FFT floor: the transforms one step needs at the least, 5 stages x (4 irfft2 + 1 rfft2), with
  nothing else, compiled the same way; the ratio step / floor (target <= 1.5);
- our explicit terms with the four inverse FFTs batched on a stacked array (one irfft2 call), to
  show why they are not batched.
All timings are the best of --repeats runs of --steps steps after one warm-up (compile) run.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax_cfd.base import forcings
from jax_cfd.spectral import equations as jax_cfd_equations
from jax_cfd.spectral import time_stepping

from flex.simulate.equations import ForcedVorticityEquation, make_grid

STAGES = 5  # crank_nicolson_rk4 (Carpenter-Kennedy) evaluates the explicit terms 5 times

VISCOSITY, DRAG, FORCING_WAVENUMBER, FORCING_AMPLITUDE = 1e-3, 0.1, 4, 1.0
"""The benchmarked flow: Re = 1000 with Kolmogorov forcing at k = 4."""
COURANT, MAX_VELOCITY = 0.5, 7.0
"""dt = COURANT x dx / MAX_VELOCITY."""


def benchmark_case(n: int):
    """(grid, our equation, a random dealiased initial state, dt) of the benchmark at n^2."""
    grid = make_grid(n, 2 * np.pi)
    equation = ForcedVorticityEquation(grid, VISCOSITY, DRAG, FORCING_WAVENUMBER,
                                       FORCING_AMPLITUDE)  # fmt: skip
    noise = jax.random.normal(jax.random.PRNGKey(0), grid.shape, jnp.float32)
    state = jnp.fft.rfft2(noise) * equation.dealias_filter
    return grid, equation, state, COURANT * (2 * np.pi / n) / MAX_VELOCITY


class StackedInverseFFT(ForcedVorticityEquation):
    """Variant: one batched irfft2 of the four stacked spectral fields."""

    def explicit_terms(self, vorticity_hat):
        u_hat, v_hat = self.velocity_hat(vorticity_hat)
        stacked = jnp.stack([u_hat, v_hat, self.ikx * vorticity_hat, self.iky * vorticity_hat])
        u, v, d_x, d_y = jnp.fft.irfft2(stacked, s=self.grid.shape)
        advection_hat = jnp.fft.rfft2(-(u * d_x + v * d_y))
        return advection_hat * self.dealias_filter + self.forcing_hat


def best_time(function, argument, repeats: int) -> float:
    jax.block_until_ready(function(argument))  # compile and warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(function(argument))
        times.append(time.perf_counter() - start)
    return min(times)


def time_equation(equation, state, dt, steps, repeats) -> float:
    step = time_stepping.crank_nicolson_rk4(equation, dt)
    loop = jax.jit(lambda s: jax.lax.fori_loop(0, steps, lambda _, x: step(x), s))
    return best_time(loop, state, repeats) / steps


def time_fft_floor(n: int, state, steps, repeats) -> float:
    def one_step(_, x):
        for _stage in range(STAGES):
            fields = [jnp.fft.irfft2(x * (1 + 1e-3 * i), s=(n, n)) for i in range(4)]
            x = x + 1e-3 * jnp.fft.rfft2(fields[0] * fields[1] + fields[2] * fields[3])
        return x

    loop = jax.jit(lambda s: jax.lax.fori_loop(0, steps, one_step, s))
    return best_time(loop, state, repeats) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, nargs="+", default=[64, 128, 256, 512])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"backend={jax.default_backend()} devices={jax.devices()}")
    header = ("grid", "ours ms/step", "steps/s", "Mpoint-steps/s", "jax-cfd ms/step",
              "FFT floor ms", "ours/floor", "jax-cfd/floor", "stacked ms/step")  # fmt: skip
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for n in args.grids:
        grid, ours, state, dt = benchmark_case(n)
        reference = jax_cfd_equations.NavierStokes2D(
            VISCOSITY, grid, drag=DRAG, smooth=True,
            forcing_fn=lambda g: forcings.kolmogorov_forcing(g, k=FORCING_WAVENUMBER,
                                                             offsets=((0, 0), (0, 0))),
        )  # fmt: skip
        stacked = StackedInverseFFT(grid, VISCOSITY, DRAG, FORCING_WAVENUMBER, FORCING_AMPLITUDE)
        steps = max(10, args.steps * 256 // n) if n <= 256 else args.steps // 4
        t_ours = time_equation(ours, state, dt, steps, args.repeats)
        t_ref = time_equation(reference, state, dt, steps, args.repeats)
        t_stacked = time_equation(stacked, state, dt, steps, args.repeats)
        t_floor = time_fft_floor(n, state, steps, args.repeats)
        row = (n, t_ours * 1e3, 1 / t_ours, n * n / t_ours / 1e6, t_ref * 1e3, t_floor * 1e3,
               t_ours / t_floor, t_ref / t_floor, t_stacked * 1e3)  # fmt: skip
        print(
            "| {}^2 | {:.3f} | {:.0f} | {:.1f} | {:.3f} | {:.3f} | {:.2f} | {:.2f} | {:.3f} |".format(
                *row
            )
        )


if __name__ == "__main__":
    main()
