"""A GPU given to a job is used or the job fails at once (flex.devices); `cpu` is always a choice.

These run on machines without a usable GPU (CI, laptops); where torch or jax sees one, the
tests that need its absence skip.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from flex.devices import allocated_gpus, torch_device
from flex.errors import StageFailure
from tests.conftest import ROOT, snakemake_env

SLURM_GPU = {"SLURM_JOB_GPUS": "0", "SLURM_GPUS_ON_NODE": "1", "CUDA_VISIBLE_DEVICES": "0"}
"""What Slurm (23.x) puts in the environment of a job submitted with --gpus=1."""


@pytest.mark.parametrize(
    ("environ", "given"),
    [
        ({}, None),
        (SLURM_GPU, "SLURM_JOB_GPUS=0"),
        ({"SLURM_GPUS_ON_NODE": "2"}, "SLURM_GPUS_ON_NODE=2"),
        ({"SLURM_GPUS_ON_NODE": "0"}, None),
        ({"CUDA_VISIBLE_DEVICES": "1,3"}, "CUDA_VISIBLE_DEVICES=1,3"),
        ({"CUDA_VISIBLE_DEVICES": ""}, None),  # the usual way to hide every GPU
        ({"CUDA_VISIBLE_DEVICES": "-1"}, None),
        ({"CUDA_VISIBLE_DEVICES": "NoDevFiles"}, None),  # Slurm, GRES without device files
    ],
)
def test_allocated_gpus_reads_slurm_and_cuda_visible_devices(environ, given):
    assert allocated_gpus(environ) == given


@pytest.fixture
def no_torch_gpu():
    import torch

    if torch.cuda.is_available():
        pytest.skip("torch sees a GPU")


def test_auto_without_a_gpu_given_runs_on_the_cpu(no_torch_gpu):
    assert torch_device("auto", "execution.train.device", environ={}).type == "cpu"


def test_auto_with_a_gpu_given_that_torch_cannot_use_fails_in_one_line(no_torch_gpu):
    import torch

    with pytest.raises(StageFailure) as raised:
        torch_device("auto", "execution.train.device", environ=SLURM_GPU)
    message = str(raised.value)
    assert "\n" not in message
    assert "given a GPU (SLURM_JOB_GPUS=0)" in message
    assert f"torch {torch.__version__} sees no GPU" in message
    cause = "a CPU-only torch build" if torch.version.cuda is None else "driver is older"
    assert cause in message
    assert "set 'execution.train.device' to 'cpu'" in message


def test_cpu_is_a_choice_even_with_a_gpu_given(no_torch_gpu):
    assert torch_device("cpu", "execution.sample.device", environ=SLURM_GPU).type == "cpu"


def test_cuda_without_a_gpu_fails_even_where_none_was_given(no_torch_gpu):
    with pytest.raises(StageFailure, match=r"'execution.sample.device' = 'cuda', but torch"):
        torch_device("cuda", "execution.sample.device", environ={})


def test_an_unknown_setting_is_named():
    with pytest.raises(StageFailure, match=r"'execution.train.device' = 'gpu': must be one of"):
        torch_device("gpu", "execution.train.device", environ={})


def _simulate_command(tiny_config, device: str, output) -> list[str]:
    from flex.config import to_dict
    from tests.conftest import make_job

    job = make_job(tiny_config)
    execution = {**tiny_config["execution"]["simulate"], "device": device}
    return [sys.executable, "-m", "flex.simulate", "--job", json.dumps(to_dict(job)),
            "--execution", json.dumps(execution), "--output", str(output)]  # fmt: skip


def _jax_sees_a_gpu() -> bool:
    probe = "import jax; print(jax.default_backend())"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env={**snakemake_env(), "JAX_PLATFORMS": ""}, cwd=ROOT)  # fmt: skip
    return done.stdout.strip() == "gpu"


def test_a_simulation_given_a_gpu_that_jax_cannot_use_fails_before_any_work(tiny_config, tmp_path):
    """The stage's own command, as a Slurm job with --gpus=1 runs it on a node where jax is
    CPU-only: exit status 1, one line naming jax, its backend and the cause; no output."""
    if _jax_sees_a_gpu():
        pytest.skip("jax sees a GPU")
    output = tmp_path / "re40_seed11.nc"
    done = subprocess.run(_simulate_command(tiny_config, "auto", output), capture_output=True,
                          text=True, env={**snakemake_env(), **SLURM_GPU}, cwd=ROOT)  # fmt: skip
    assert done.returncode == 1, done.stderr[-2000:]
    (line,) = [line for line in done.stderr.splitlines() if "given a GPU" in line]
    assert line.startswith("flex simulate: the job was given a GPU (SLURM_JOB_GPUS=0), but jax")
    assert "sees only the cpu backend" in line
    assert "CPU-only jax" in line or "CUDA plugin is installed" in line
    assert "Traceback" not in done.stderr
    assert not list(tmp_path.iterdir())


def test_a_simulation_set_to_cpu_runs_on_the_cpu_with_a_gpu_given(tiny_config, tmp_path):
    output = tmp_path / "re40_seed11.nc"
    done = subprocess.run(_simulate_command(tiny_config, "cpu", output), capture_output=True,
                          text=True, env={**snakemake_env(), **SLURM_GPU}, cwd=ROOT)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "backend=cpu" in done.stderr
    assert output.exists()
