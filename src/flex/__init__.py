"""FLEX turbulence pipeline: jax-cfd simulation, coarse-graining, diffusion models, evaluation.

Stages (one module or subpackage each): simulate -> coarsen -> train -> sample -> evaluate -> figures.
"""

__version__ = "0.1.0"
