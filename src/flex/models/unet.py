"""The U-Net baseline (docs/method.md, "Architecture"): an ADM-style diffusion U-Net (Dhariwal &
Nichol 2021) in the same task-encoder / diffusion interface as FLEX, with strong conditioning only.

    encoder: stem; per level `blocks[l]` ResBlocks (+ self-attention at `attention_levels`) and a
             down-ResBlock between levels; it ignores the task features (no weak conditioning)
    middle:  ResBlock, self-attention, ResBlock; then + task bottleneck
    decoder: per level (coarsest first) `blocks[l] + 1` ResBlocks on concat[x, skip + task skip]
             (+ attention), an up-ResBlock between levels; GN -> SiLU -> zero Conv3x3
The time embedding (Fourier) plus the Reynolds-number embedding has width 2 x channels[0].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from flex.models.blocks import (
    Attention,
    FourierEmbedding,
    ResBlock,
    ScalarEmbedding,
    group_norm,
    zero_module,
)
from flex.models.config import ModelConfig
from flex.models.flex import TaskFeatures


class SpatialAttention(nn.Module):
    """x + proj(MHSA(GN(x))) over the pixels of a feature map; the projection starts at zero."""

    def __init__(self, channels: int, heads: int, groups: int) -> None:
        super().__init__()
        self.norm = group_norm(channels, groups)
        self.attention = Attention(channels, heads)
        zero_module(self.attention.proj)

    def forward(self, x: torch.Tensor, embedding: torch.Tensor | None = None) -> torch.Tensor:
        batch, channels, height, width = x.shape
        tokens = self.norm(x).flatten(2).transpose(1, 2)  # (B, H*W, C)
        out = self.attention(tokens).transpose(1, 2).reshape(batch, channels, height, width)
        return x + out


class UNetEncoder(nn.Module):
    def __init__(self, config: ModelConfig, in_channels: int, embedding_dim: int) -> None:
        super().__init__()
        c = config
        self.stem = nn.Conv2d(in_channels, c.channels[0], 3, padding=1)
        self.stages = nn.ModuleList()
        self.skip_channels = [c.channels[0]]
        width = c.channels[0]
        for level, (channels, count) in enumerate(zip(c.channels, c.blocks, strict=True)):
            for _ in range(count):
                stage = [ResBlock(width, channels, embedding_dim, c.dropout, c.groups)]
                if level in c.attention_levels:
                    stage.append(SpatialAttention(channels, c.heads, c.groups))
                self.stages.append(nn.ModuleList(stage))
                width = channels
                self.skip_channels.append(width)
            if level < len(c.channels) - 1:
                down = ResBlock(width, width, embedding_dim, c.dropout, c.groups, "down")
                self.stages.append(nn.ModuleList([down]))
                self.skip_channels.append(width)
        self.out_channels = width

    def forward(self, x, embedding):
        x = self.stem(x)
        skips = [x]
        for stage in self.stages:
            for layer in stage:
                x = layer(x, embedding)
            skips.append(x)
        return x, skips


class UNet(nn.Module):
    """Same interface as `Flex`: encode_task once, denoise at every step."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.backbone != "unet":
            raise ValueError(f"UNet needs a 'unet' config, got {config.backbone!r}")
        c, dim = config, 2 * config.channels[0]
        self.config = config
        self.task_reynolds = ScalarEmbedding(dim)
        self.task_encoder = UNetEncoder(c, c.input_channels, dim)
        self.time = FourierEmbedding(dim)
        self.reynolds = ScalarEmbedding(dim)
        self.encoder = UNetEncoder(c, 1, dim)
        width = self.encoder.out_channels
        self.middle = nn.ModuleList([
            ResBlock(width, width, dim, c.dropout, c.groups),
            SpatialAttention(width, c.heads, c.groups),
            ResBlock(width, width, dim, c.dropout, c.groups),
        ])  # fmt: skip
        pending = list(self.encoder.skip_channels)
        self.decoder = nn.ModuleList()
        for level in reversed(range(len(c.channels))):
            for i in range(c.blocks[level] + 1):
                stage = [
                    ResBlock(width + pending.pop(), c.channels[level], dim, c.dropout, c.groups)
                ]
                width = c.channels[level]
                if level in c.attention_levels:
                    stage.append(SpatialAttention(width, c.heads, c.groups))
                if level > 0 and i == c.blocks[level]:
                    stage.append(ResBlock(width, width, dim, c.dropout, c.groups, "up"))
                self.decoder.append(nn.ModuleList(stage))
        assert not pending, "every encoder skip has one decoder stage"
        self.out_norm = group_norm(width, c.groups)
        self.out_conv = zero_module(nn.Conv2d(width, 1, 3, padding=1))

    def encode_task(self, task_input: torch.Tensor, reynolds: torch.Tensor) -> TaskFeatures:
        bottleneck, skips = self.task_encoder(task_input, self.task_reynolds(reynolds))
        return TaskFeatures(bottleneck, skips)

    def denoise(self, z, t, reynolds, task: TaskFeatures) -> torch.Tensor:
        embedding = self.time(t) + self.reynolds(reynolds)
        x, skips = self.encoder(z, embedding)  # no weak conditioning
        for layer in self.middle:
            x = layer(x, embedding)
        x = x + task.bottleneck  # strong conditioning
        task_skips = list(task.skips)
        for stage in self.decoder:
            x = torch.cat([x, skips.pop() + task_skips.pop()], dim=1)
            for layer in stage:
                x = layer(x, embedding)
        return self.out_conv(F.silu(self.out_norm(x)))

    def forward(self, z, t, reynolds, task_input) -> torch.Tensor:
        return self.denoise(z, t, reynolds, self.encode_task(task_input, reynolds))
