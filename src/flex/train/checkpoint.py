"""Checkpoints that carry what rebuilds and uses the model: its config, the normalisation, the
Reynolds-number scale, the task and the job. Written atomically (temporary file, fsync, rename):
a process killed at any moment leaves the previous checkpoint intact.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from flex.config import TrainJob, to_dict
from flex.io.netcdf import atomic_output
from flex.models import ModelConfig, build_model

FORMAT = 1


SOURCES = ("train", "models", "diffusion", "data", "config")
"""Packages whose code decides a training run: an edit makes old checkpoints unusable."""


def job_digest(job: TrainJob) -> str:
    """Digest of the job and of the training code: a checkpoint resumes only the same run."""
    digest = hashlib.sha256(json.dumps(to_dict(job), sort_keys=True).encode())
    root = Path(__file__).resolve().parents[1]
    for package in SOURCES:
        for file in sorted((root / package).rglob("*.py")):
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def save(state: dict[str, Any], path: Path) -> None:
    with atomic_output(path) as tmp:
        torch.save({"format": FORMAT, **state}, tmp)


def load(path: str | Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    state = torch.load(path, map_location=device, weights_only=False)
    if state.get("format") != FORMAT:
        raise ValueError(f"{path}: checkpoint format {state.get('format')} != {FORMAT}")
    return state


def model_state(model_config: ModelConfig, weights: dict, metadata: dict[str, Any]) -> dict:
    """The self-contained model file: config, weights and everything sampling needs."""
    return {"model_config": dataclasses.asdict(model_config), "weights": weights, **metadata}


def load_model(path: str | Path, device: str | torch.device = "cpu"):
    """Rebuild a trained model from its file alone: (model in eval mode, the file's metadata)."""
    state = load(path, device)
    settings = state["model_config"]
    config = ModelConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()})
    model = build_model(config).to(device)
    model.load_state_dict(state["weights"])
    return model.eval(), state
