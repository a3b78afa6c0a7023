"""The U-Net baseline (docs/method.md, "Architecture"): the authors' guided-diffusion U-Net
(Dhariwal & Nichol 2021, ADM; `UNet(model_size)` of the FLEX code) in the same task-encoder /
diffusion interface as FLEX, with strong conditioning only.

    common encoder: Conv3x3 stem; per level `blocks[l]` ResBlocks (+ self-attention at
                    `attention_levels`) and a down-ResBlock between levels; middle: 2 ResBlocks.
                    It ignores the task features (no weak conditioning).
    task encoder:   the same without attention, with a strided Conv3x3 between levels and without
                    the diffusion time; its dropout is `task_dropout` (the authors' forecasting
                    encoder: 0.15), else `dropout`
    decoder:        x = common bottleneck + task bottleneck; per level (coarsest first)
                    `blocks[l] + 1` ResBlocks on concat[x, skip + task skip] (+ attention), an
                    up-ResBlock between levels; GN -> SiLU -> zero Conv3x3
Every ResBlock that changes the width has a Conv1x1 skip. With base width C = channels[0], the
conditioning vectors have width 2C: the common encoder's is time (C Fourier features, an MLP with
hidden width 2C) + Re (hidden 2C); the decoder's has its own, time with hidden width 4C; a task
encoder's is its own Re embedding. The attention's qkv projection has a bias (a Conv1x1 in theirs).
This reproduces the authors' parameter counts (tests/test_models.py).
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
        self.attention = Attention(channels, heads, qkv_bias=True)
        zero_module(self.attention.proj)

    def forward(self, x: torch.Tensor, embedding: torch.Tensor | None = None) -> torch.Tensor:
        batch, channels, height, width = x.shape
        tokens = self.norm(x).flatten(2).transpose(1, 2)  # (B, H*W, C)
        out = self.attention(tokens).transpose(1, 2).reshape(batch, channels, height, width)
        return x + out


class StridedDown(nn.Module):
    """A task encoder's down-sampling between levels: Conv3x3 with stride 2."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor, embedding: torch.Tensor | None = None) -> torch.Tensor:
        return self.conv(x)


class UNetEncoder(nn.Module):
    """The common encoder (`task` False) or a task encoder (`task` True)."""

    def __init__(self, config: ModelConfig, in_channels: int, dropout: float, task: bool) -> None:
        super().__init__()
        c, dim = config, 2 * config.channels[0]

        def res(width_in: int, width_out: int, resample: str | None = None) -> ResBlock:
            return ResBlock(width_in, width_out, dim, dropout, c.groups, resample, skip_kernel=1)

        self.stem = nn.Conv2d(in_channels, c.channels[0], 3, padding=1)
        self.stages = nn.ModuleList()
        self.skip_channels = [c.channels[0]]
        width = c.channels[0]
        for level, (channels, count) in enumerate(zip(c.channels, c.blocks, strict=True)):
            for _ in range(count):
                stage = [res(width, channels)]
                if level in c.attention_levels and not task:
                    stage.append(SpatialAttention(channels, c.heads, c.groups))
                self.stages.append(nn.ModuleList(stage))
                width = channels
                self.skip_channels.append(width)
            if level < len(c.channels) - 1:
                down = StridedDown(width) if task else res(width, width, "down")
                self.stages.append(nn.ModuleList([down]))
                self.skip_channels.append(width)
        self.middle = nn.ModuleList([res(width, width), res(width, width)])
        self.out_channels = width

    def forward(self, x, embedding):
        """The bottleneck after the middle block, and the skips of the stem and every stage."""
        x = self.stem(x)
        skips = [x]
        for stage in self.stages:
            for layer in stage:
                x = layer(x, embedding)
            skips.append(x)
        for layer in self.middle:
            x = layer(x, embedding)
        return x, skips


class UNet(nn.Module):
    """Same interface as `Flex`: encode_task once, denoise at every step."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.backbone != "unet":
            raise ValueError(f"UNet needs a 'unet' config, got {config.backbone!r}")
        c, base = config, config.channels[0]
        dim = 2 * base
        self.config = config
        task_dropout = c.dropout if c.task_dropout is None else c.task_dropout
        self.task_reynolds = ScalarEmbedding(dim, hidden=dim)
        self.task_encoder = UNetEncoder(c, c.input_channels, task_dropout, task=True)
        self.time = FourierEmbedding(dim, features=base, hidden=dim)
        self.reynolds = ScalarEmbedding(dim, hidden=dim)
        self.encoder = UNetEncoder(c, 1, c.dropout, task=False)
        self.decoder_time = FourierEmbedding(dim, features=base, hidden=2 * dim)
        self.decoder_reynolds = ScalarEmbedding(dim, hidden=dim)
        width = self.encoder.out_channels
        pending = list(self.encoder.skip_channels)
        self.decoder = nn.ModuleList()
        for level in reversed(range(len(c.channels))):
            for i in range(c.blocks[level] + 1):
                stage = [ResBlock(width + pending.pop(), c.channels[level], dim, c.dropout,
                                  c.groups, skip_kernel=1)]  # fmt: skip
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
        x, skips = self.encoder(z, self.time(t) + self.reynolds(reynolds))  # no weak conditioning
        x = x + task.bottleneck  # strong conditioning
        embedding = self.decoder_time(t) + self.decoder_reynolds(reynolds)
        task_skips = list(task.skips)
        for stage in self.decoder:
            x = torch.cat([x, skips.pop() + task_skips.pop()], dim=1)
            for layer in stage:
                x = layer(x, embedding)
        return self.out_conv(F.silu(self.out_norm(x)))

    def forward(self, z, t, reynolds, task_input) -> torch.Tensor:
        return self.denoise(z, t, reynolds, self.encode_task(task_input, reynolds))
