"""Backbones (FLEX and the U-Net and UViT baselines), their configs and size presets, and model files.

    model = build_model(config)        # config: ModelConfig (a model file stores it as a dict)

What each model of the study learns is in `flex.kinds`. This package's top level imports no torch
(the configuration checks read the presets at workflow parse time); the backbones are imported
when a model is built.
"""

from __future__ import annotations

from typing import Any

from flex.models.config import PRESETS, ModelConfig, preset

__all__ = ["PRESETS", "ModelConfig", "build_model", "for_task", "parameter_count", "preset"]


def build_model(config: ModelConfig) -> Any:
    """The torch module of `config.backbone` ("flex", "unet" or "uvit"; a FLEX with `tasks` is
    multi-task)."""
    from flex.models.flex import Flex, FlexMultiTask
    from flex.models.unet import UNet
    from flex.models.uvit import UViT

    if config.tasks:
        return FlexMultiTask(config)
    return {"flex": Flex, "unet": UNet, "uvit": UViT}[config.backbone](config)


def for_task(model: Any, task: str) -> Any:
    """The model of one task: a multi-task model's `for_task(task)`, else the model itself."""
    return model.for_task(task) if model.config.tasks else model


def parameter_count(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())
