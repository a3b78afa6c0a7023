"""Which device a job computes on, and the rule that a GPU given to a job is used or the job fails.

An execution setting `device` is `auto`, `cpu` or `cuda`:

- `cpu`: the CPU, whatever the machine has (a choice: never an error);
- `cuda`: the GPU; a job whose library sees none fails at once, naming the key;
- `auto`: the GPU when the library sees one. On a machine without a GPU that is the CPU, but a job
  that was *given* a GPU (Slurm's `--gpus`, or the user's CUDA_VISIBLE_DEVICES) and whose library
  cannot use it fails at once with one line (which library, what it sees, the likely cause)
  instead of computing on the CPU inside its GPU allocation until its time limit.

The usual causes: a torch wheel built for a newer CUDA than the node's driver supports (PyPI's
torch 2.13.0 is built for CUDA 13), a CPU-only torch wheel, or a CPU-only jax (envs/sim.yaml
instead of envs/sim-cuda.yaml).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping

from flex.errors import StageFailure

DEVICE_SETTINGS = ("auto", "cpu", "cuda")
"""The values of every `execution.<stage>.device` (config/schema.yaml lists the same)."""

GPU_VARIABLES = ("SLURM_STEP_GPUS", "SLURM_JOB_GPUS", "SLURM_GPUS_ON_NODE", "CUDA_VISIBLE_DEVICES")
"""Environment variables by which Slurm (or the user) gives a process GPUs, in the order read."""

NO_GPU_VALUES = ("", "-1", "NoDevFiles", "none")
"""Values of those variables that give no GPU (Slurm writes NoDevFiles for GRES without files)."""

JAX_CUDA_PLUGINS = ("jax_cuda13_plugin", "jax_cuda12_plugin")
"""The packages that `jax[cuda12]` / `jax[cuda13]` install: without one, jax is CPU-only."""


def allocated_gpus(environ: Mapping[str, str] | None = None) -> str | None:
    """`NAME=value` of the first variable that gives this process a GPU, or None."""
    environ = os.environ if environ is None else environ
    for name in GPU_VARIABLES:
        value = environ.get(name, "").strip()
        if value in NO_GPU_VALUES or (name == "SLURM_GPUS_ON_NODE" and value == "0"):
            continue
        return f"{name}={value}"
    return None


def _check_setting(setting: str, key: str) -> None:
    if setting not in DEVICE_SETTINGS:
        raise StageFailure(f"'{key}' = {setting!r}: must be one of {', '.join(DEVICE_SETTINGS)}")


def _unusable_gpu(key: str, library: str, sees: str, cause: str, given: str | None) -> StageFailure:
    why = f"the job was given a GPU ({given})" if given else f"'{key}' = 'cuda'"
    return StageFailure(
        f"{why}, but {library} sees {sees}; likely cause: {cause}. Install a build that uses the "
        f"GPU, or set '{key}' to 'cpu' to compute on the CPU"
    )


def torch_device(setting: str, key: str, rank: int = 0, environ: Mapping[str, str] | None = None):
    """The torch device of an execution setting; rank r of a multi-GPU job takes GPU r modulo
    their number."""
    import torch

    _check_setting(setting, key)
    if setting == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda", rank % torch.cuda.device_count())
    given = allocated_gpus(environ)
    if setting == "cuda" or given:
        if torch.version.cuda is None:
            cause = "a CPU-only torch build (its version has no CUDA)"
        else:
            cause = (
                f"the node's NVIDIA driver is older than CUDA {torch.version.cuda}, which this "
                "torch build needs (nvidia-smi shows the driver's CUDA version), or the device "
                "is not visible to the job"
            )
        raise _unusable_gpu(key, f"torch {torch.__version__}", "no GPU", cause, given)
    return torch.device("cpu")


def jax_backend(setting: str, key: str, environ: Mapping[str, str] | None = None) -> str:
    """Select jax's platform for the setting before jax starts a backend; return the backend
    (`cpu`, `gpu`). Must run before any jax computation of the process."""
    import jax

    _check_setting(setting, key)
    if setting == "cpu":
        jax.config.update("jax_platforms", "cpu")
        return jax.default_backend()
    backend = jax.default_backend()
    given = allocated_gpus(environ)
    if backend != "gpu" and (setting == "cuda" or given):
        if not any(importlib.util.find_spec(name) for name in JAX_CUDA_PLUGINS):
            cause = (
                "a CPU-only jax (no CUDA plugin installed: envs/sim.yaml; on a GPU use "
                "envs/sim-cuda.yaml or pip install 'jax[cuda12]')"
            )
        else:
            cause = (
                "the CUDA plugin is installed but found no usable GPU (a driver older than its "
                "CUDA 12 build needs, or the device is not visible to the job)"
            )
        raise _unusable_gpu(key, f"jax {jax.__version__}", f"only the {backend} backend", cause,
                            given)  # fmt: skip
    return backend
