"""Backbones (FLEX and the U-Net baseline), their configs and presets, and a registry.

    model = build_model(config)        # config: ModelConfig (a checkpoint stores it as a dict)

Models of the study (`train.models`): `flex` (residual diffusion), `flex_raw` (FLEX modelling the
raw field, the ablation of the residual idea), `unet` (ADM U-Net, residual diffusion),
`regression` (the FLEX backbone as a deterministic regressor of the residual). `bicubic` (sr) and
`persistence` (fc) need no training.
"""

from __future__ import annotations

from torch import nn

from flex.models.config import PRESETS, ModelConfig, preset
from flex.models.flex import Flex, TaskFeatures
from flex.models.unet import UNet

BACKBONES = {"flex": Flex, "unet": UNet}

__all__ = ["BACKBONES", "PRESETS", "Flex", "ModelConfig", "TaskFeatures", "UNet", "build_model",
           "parameter_count", "preset"]  # fmt: skip


def build_model(config: ModelConfig) -> nn.Module:
    return BACKBONES[config.backbone](config)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
