"""The time-step limit of explicit diffusion in the wall-bounded (finite-volume) solver.

The 5-point Laplacian on a square grid of spacing dx has eigenvalues down to -8 / dx^2; with
viscosity nu and drag alpha, the linear part of the momentum equation has eigenvalues down to
-(8 nu / dx^2 + alpha). An explicit Runge-Kutta scheme is stable for them while

    dt (8 nu / dx^2 + alpha) <= R,

R being where the scheme's stability region meets the negative real axis: 2 for forward Euler and
the two-stage second-order schemes, 2.785 for the classic fourth-order one (Hairer & Wanner,
Solving ODEs II, section IV.2). The advection's limit is the CFL condition of `simulate`.
"""

from __future__ import annotations

REAL_AXIS_LIMITS = {
    "forward_euler": 2.0,
    "midpoint_rk2": 2.0,
    "heun_rk2": 2.0,
    "classic_rk4": 2.785,
}
"""R of each scheme of `held_out_boundary.time_stepper`."""


def diffusive_time_step_limit(time_stepper: str, viscosity: float, drag: float,
                              spacing: float) -> float:  # fmt: skip
    """The longest stable time step R / (8 nu / dx^2 + alpha)."""
    return REAL_AXIS_LIMITS[time_stepper] / (8.0 * viscosity / spacing**2 + drag)
