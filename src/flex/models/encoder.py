"""The convolutional encoder and decoder of FLEX's common and task encoders (docs/method.md,
"Architecture").

`ConvEncoder`: Conv3x3 stem, then per level `blocks[l]` ResBlocks to `channels[l]` and one
down-ResBlock (also after the last level). Every block output is kept as a skip; with weak
conditioning (FLEX's common encoder) the task encoder's feature of the same block index is added
first: x <- block(x) + task_skip[i], and the sum is the skip.

`ConvDecoder`: the mirror image, taking the skips last-in first-out. A first up-ResBlock takes the
bottleneck's skip; then per level (coarsest first) `blocks[l] + 1` ResBlocks and, but for the finest
level, an up-ResBlock without skip. A block with a skip takes concat[x, common skip + task skip]
(strong conditioning). Output: GN -> SiLU -> zero-initialised Conv3x3. This layout reproduces the
parameter counts of the authors' FLEX small / medium / big (tests/test_models.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from flex.models.blocks import ResBlock, group_norm, zero_module
from flex.models.config import ModelConfig


class ConvEncoder(nn.Module):
    def __init__(self, config: ModelConfig, in_channels: int, embedding_dim: int) -> None:
        super().__init__()
        c = config
        self.stem = nn.Conv2d(in_channels, c.channels[0], 3, padding=1)
        self.blocks = nn.ModuleList()
        self.skip_channels = [c.channels[0]]
        width = c.channels[0]
        for channels, count in zip(c.channels, c.blocks, strict=True):
            for _ in range(count):
                self.blocks.append(ResBlock(width, channels, embedding_dim, c.dropout, c.groups))
                width = channels
                self.skip_channels.append(width)
            self.blocks.append(ResBlock(width, width, embedding_dim, c.dropout, c.groups, "down"))
            self.skip_channels.append(width)
        self.out_channels = width

    def forward(
        self, x: torch.Tensor, embedding: torch.Tensor, task_skips: list[torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Returns the bottleneck (B, C, H / 2^L, W / 2^L) and the skips of every block."""
        x = self.stem(x)
        if task_skips is not None:
            x = x + task_skips[0]
        skips = [x]
        for index, block in enumerate(self.blocks, start=1):
            x = block(x, embedding)
            if task_skips is not None:
                x = x + task_skips[index]  # weak conditioning
            skips.append(x)
        return x, skips


class ConvDecoder(nn.Module):
    def __init__(self, config: ModelConfig, skip_channels: list[int], out_channels: int = 1):
        super().__init__()
        c, dim = config, config.token_dim
        pending = list(skip_channels)
        self.blocks = nn.ModuleList()
        self.takes_skip: list[bool] = []

        def add(block: ResBlock, takes_skip: bool) -> None:
            self.blocks.append(block)
            self.takes_skip.append(takes_skip)

        # the bottleneck's own skip (last down-block), up-sampled at once
        add(ResBlock(dim + pending.pop(), dim, dim, c.dropout, c.groups, "up"), True)
        width = dim
        for level in reversed(range(len(c.channels))):
            for _ in range(c.blocks[level] + 1):
                block = ResBlock(width + pending.pop(), c.channels[level], dim, c.dropout, c.groups)
                add(block, True)
                width = c.channels[level]
            if level > 0:
                add(ResBlock(width, width, dim, c.dropout, c.groups, "up"), False)
        assert not pending, "every encoder skip has one decoder block"
        self.out_norm = group_norm(width, c.groups)
        self.out_conv = zero_module(nn.Conv2d(width, out_channels, 3, padding=1))

    def forward(
        self,
        x: torch.Tensor,
        embedding: torch.Tensor,
        skips: list[torch.Tensor],
        task_skips: list[torch.Tensor],
    ) -> torch.Tensor:
        skips, task_skips = list(skips), list(task_skips)
        for block, takes_skip in zip(self.blocks, self.takes_skip, strict=True):
            if takes_skip:
                x = torch.cat([x, skips.pop() + task_skips.pop()], dim=1)  # strong conditioning
            x = block(x, embedding)
        return self.out_conv(F.silu(self.out_norm(x)))
