"""Backbones (FLEX and the U-Net baseline), their configs and size presets, and model files.

    model = build_model(config)        # config: ModelConfig (a model file stores it as a dict)

What each model of the study learns is in `flex.kinds`. This package's top level imports no torch
(the configuration checks read the presets at workflow parse time); the backbones are imported
when a model is built.
"""

from __future__ import annotations

from typing import Any

from flex.models.config import PRESETS, ModelConfig, preset

__all__ = ["PRESETS", "ModelConfig", "build_model", "parameter_count", "preset"]


def build_model(config: ModelConfig) -> Any:
    """The torch module of `config.backbone` ("flex" or "unet")."""
    from flex.models.flex import Flex
    from flex.models.unet import UNet

    return {"flex": Flex, "unet": UNet}[config.backbone](config)


def parameter_count(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())
