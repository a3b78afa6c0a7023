"""The UViT baseline (docs/method.md, "Architecture"): a transformer on patch tokens (U-ViT, Bao et
al. 2023) in the same task-encoder / diffusion interface as FLEX, as the authors' UViT backbone.

    tokens(x)   = Conv(k = p, stride = p)(x) -> (B, N, D), N = (image / p)^2 patch tokens
    encoder     = [cond token; tokens] + positions -> depth//2 blocks (each output a skip) -> 1
                  (cond token = Re embedding, + time embedding in the common encoder)
    task input  = the same encoder without time: bottleneck tokens and skips (cacheable)
    decoder     = tokens + task bottleneck; token 0 += time + Re; depth//2 blocks, each fusing
                  common skip + task skip (LIFO, Linear(2D, D)); LayerNorm; drop token 0;
                  Linear(D, p^2) per token -> un-patchify -> Conv3x3
The common encoder sees no task feature (the authors' UViT has no weak conditioning); the task
enters the decoder only (strong conditioning). Every nn.Linear starts Xavier-uniform with zero
bias, as in the authors' code; positions start truncated-normal (std 0.02). The decoder drops the
Reynolds-number embedding of a whole example with probability `dropout` without rescaling, as
theirs; the blocks' MLPs use `dropout` too.
"""

from __future__ import annotations

import torch
from torch import nn

from flex.models.blocks import FourierEmbedding, ScalarEmbedding, TransformerBlock, xavier_linears
from flex.models.config import ModelConfig
from flex.models.flex import LatentTransformer, TaskFeatures


def unpatchify(tokens: torch.Tensor, patch: int, side: int) -> torch.Tensor:
    """(B, (side/p)^2, p^2 C) tokens, row-major over the token grid and over each patch's
    pixels, -> (B, C, side, side)."""
    batch, _, width = tokens.shape
    grid, channels = side // patch, width // (patch * patch)
    x = tokens.reshape(batch, grid, grid, patch, patch, channels)
    return x.permute(0, 5, 1, 3, 2, 4).reshape(batch, channels, side, side)


class TokenEncoder(nn.Module):
    """Patch tokens of an image with a conditioning token, through the first half of the blocks
    and the middle block (FLEX's `LatentTransformer` on the patch-token grid): (tokens
    (B, 1 + N, D), the skips of the first half)."""

    def __init__(self, config: ModelConfig, in_channels: int, with_time: bool) -> None:
        super().__init__()
        dim, patch = config.token_dim, config.token_patch
        self.embed = nn.Conv2d(in_channels, dim, patch, stride=patch)
        self.reynolds = ScalarEmbedding(dim)
        self.time = FourierEmbedding(dim) if with_time else None
        self.transformer = LatentTransformer(config, (config.image_size // patch) ** 2)

    def forward(self, x: torch.Tensor, reynolds: torch.Tensor, t: torch.Tensor | None = None):
        condition = self.reynolds(reynolds)
        if self.time is not None:
            condition = condition + self.time(t)
        return self.transformer(self.embed(x), condition)  # (B, D, h, w) patch tokens


class UViTDecoder(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        dim, patch = config.token_dim, config.token_patch
        self.patch, self.side = patch, config.image_size
        self.time = FourierEmbedding(dim)
        self.reynolds = ScalarEmbedding(dim)
        self.reynolds_dropout = config.dropout
        self.blocks = nn.ModuleList(
            TransformerBlock(dim, config.heads, config.mlp_ratio, config.dropout, skip=True)
            for _ in range(config.depth // 2)
        )
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, patch * patch)
        self.out_conv = nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, tokens, skips, t, reynolds, task: TaskFeatures) -> torch.Tensor:
        embedding = self.reynolds(reynolds)
        if self.training and self.reynolds_dropout > 0:  # whole examples, not rescaled
            keep = torch.rand(len(embedding), 1, device=embedding.device)
            embedding = embedding * (keep >= self.reynolds_dropout).to(embedding.dtype)
        condition = self.time(t) + embedding  # (B, D)
        x = tokens + task.bottleneck
        x = torch.cat([x[:, :1] + condition[:, None], x[:, 1:]], dim=1)
        skips, task_skips = list(skips), list(task.skips)
        for block in self.blocks:
            x = block(x, skips.pop() + task_skips.pop())
        x = self.head(self.norm(x)[:, 1:])  # (B, N, p^2)
        return self.out_conv(unpatchify(x, self.patch, self.side))


class UViT(nn.Module):
    """Same interface as `Flex`: encode_task once, denoise at every step."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.backbone != "uvit":
            raise ValueError(f"UViT needs a 'uvit' config, got {config.backbone!r}")
        self.config = config
        self.task_encoder = TokenEncoder(config, config.input_channels, with_time=False)
        self.encoder = TokenEncoder(config, 1, with_time=True)
        self.decoder = UViTDecoder(config)
        xavier_linears(self)

    def encode_task(self, task_input: torch.Tensor, reynolds: torch.Tensor) -> TaskFeatures:
        return TaskFeatures(*self.task_encoder(task_input, reynolds))

    def denoise(self, z, t, reynolds, task: TaskFeatures) -> torch.Tensor:
        tokens, skips = self.encoder(z, reynolds, t)
        return self.decoder(tokens, skips, t, reynolds, task)

    def forward(self, z, t, reynolds, task_input) -> torch.Tensor:
        return self.denoise(z, t, reynolds, self.encode_task(task_input, reynolds))
