"""The `simulate` stage: forced 2D Navier-Stokes with jax-cfd's pseudo-spectral solver."""
