"""Model files that carry what rebuilds and uses the model: its config, the normalisation, the
Reynolds-number scale, the coarsening factor, the diffusion schedule, the task and the training
job. They are the one source of a trained model's metadata: sampling reads it from here, never
from the live configuration. Written atomically (temporary file, fsync, rename): a process killed
at any moment leaves the previous file intact.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from flex.errors import StageFailure
from flex.io.netcdf import atomic_output
from flex.models import ModelConfig, build_model

FORMAT = 3
"""3: the file records the patch size of each task it was trained on (`patch_sizes`, a
multi-task model has several) and logsnr_shift: sampling needs nothing else."""


def save(state: dict[str, Any], path: Path) -> None:
    with atomic_output(path) as tmp:
        torch.save({"format": FORMAT, **state}, tmp)


def load(path: str | Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    """The state saved at `path`; an unreadable file or another format is a StageFailure naming
    the file (delete it and rerun the job that makes it)."""
    if not Path(path).is_file():
        raise StageFailure(f"model file {path} does not exist")
    try:
        state = torch.load(path, map_location=device, weights_only=False)
    except Exception as error:  # torch's errors for a truncated or foreign file vary
        message = str(error).splitlines()[0] if str(error) else ""
        raise StageFailure(f"cannot read model file {path} ({type(error).__name__}: {message}); it "
                           "is truncated or not a model file: delete it and rerun its training "
                           "job") from error  # fmt: skip
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise StageFailure(f"{path} has model file format {found}, this code reads {FORMAT}: "
                           "delete it and rerun its training job")  # fmt: skip
    return state


def model_state(model_config: ModelConfig, weights: dict, metadata: dict[str, Any]) -> dict:
    """The self-contained model file: config, weights and everything sampling needs."""
    return {"model_config": dataclasses.asdict(model_config), "weights": weights, **metadata}


def model_config_of(state: dict[str, Any]) -> ModelConfig:
    """The architecture a loaded model file records."""
    saved = state["model_config"]
    return ModelConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()})


def load_model(path: str | Path, device: str | torch.device = "cpu"):
    """Rebuild a trained model from its file alone: (model in eval mode, the file's metadata)."""
    state = load(path, device)
    model = build_model(model_config_of(state)).to(device)
    model.load_state_dict(state["weights"])
    return model.eval(), state
