"""Building blocks of FLEX (docs/method.md, "Architecture"): ADM ResBlocks, embeddings, ViT blocks.

- `ResBlock` (Dhariwal & Nichol 2021, ADM): GN -> SiLU -> Conv3x3; the conditioning vector e gives
  (scale, shift) = Linear(SiLU(e)); GN(h) (1 + scale) + shift -> SiLU -> Dropout -> Conv3x3 with
  zero-initialised weights; skip = identity or, when the width changes, a Conv3x3 (FLEX) or
  Conv1x1 (`skip_kernel` 1, guided-diffusion's default, the U-Net). Down-blocks apply
  AvgPool2d(2) to both branches after the first GN/SiLU, up-blocks nearest x2.
- `FourierEmbedding` (Karras et al. 2024, EDM2, magnitude-preserving): sqrt(2) cos(2 pi f t + p)
  with F fixed f ~ N(0, 1) and p ~ U(0, 1); then Linear(F, H) -> SiLU -> Linear(H, D)
  (by default F = D, H = 2D).
- `ScalarEmbedding`: Linear(1, H) -> SiLU -> Linear(H, D) (by default H = 2D), for the Reynolds
  number.
- `Attention`: multi-head softmax attention (qkv without bias unless asked), computed in float32
  even under mixed precision, as in the authors' code.
- `xavier_linears`: every nn.Linear of a module Xavier-uniform (Glorot & Bengio 2010:
  |w| <= sqrt(6 / (fan_in + fan_out))) with zero bias, the authors' initialisation of FLEX and
  UViT.
- `TransformerBlock`: pre-LN (eps 1e-6) multi-head self-attention (qkv without bias) and MLP
  (Linear -> GELU(tanh) -> Dropout -> Linear -> Dropout); an optional long-skip fusion
  x <- Linear(2D, D)([x, skip]) first (U-ViT, Bao et al. 2023).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def group_norm(channels: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(groups, channels), channels)


def xavier_linears(module: nn.Module) -> None:
    """Every nn.Linear in `module`: Xavier-uniform weights, zero bias."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


def zero_module(module: nn.Module) -> nn.Module:
    for parameter in module.parameters():
        nn.init.zeros_(parameter)
    return module


class ResBlock(nn.Module):
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        embedding_dim: int,
        dropout: float,
        groups: int,
        resample: str | None = None,
        skip_kernel: int = 3,
    ) -> None:
        super().__init__()
        if resample not in (None, "down", "up"):
            raise ValueError(f"resample must be None, 'down' or 'up', not {resample!r}")
        if skip_kernel not in (1, 3):
            raise ValueError(f"skip_kernel must be 1 or 3, not {skip_kernel!r}")
        self.resample = resample
        self.in_norm = group_norm(in_channels, groups)
        self.in_conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.embedding = nn.Linear(embedding_dim, 2 * out_channels)
        self.out_norm = group_norm(out_channels, groups)
        self.dropout = nn.Dropout(dropout)
        self.out_conv = zero_module(nn.Conv2d(out_channels, out_channels, 3, padding=1))
        self.skip = (
            nn.Identity()
            if in_channels == out_channels
            else nn.Conv2d(in_channels, out_channels, skip_kernel, padding=skip_kernel // 2)
        )

    def _resample(self, x: torch.Tensor) -> torch.Tensor:
        if self.resample == "down":
            return F.avg_pool2d(x, 2)
        if self.resample == "up":
            return F.interpolate(x, scale_factor=2, mode="nearest")
        return x

    def forward(self, x: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        h = F.silu(self.in_norm(x))  # (B, C_in, H, W)
        h = self.in_conv(self._resample(h))  # (B, C_out, H', W')
        scale, shift = self.embedding(F.silu(embedding))[..., None, None].chunk(2, dim=1)
        h = self.out_norm(h) * (1 + scale) + shift
        h = self.out_conv(self.dropout(F.silu(h)))
        return self.skip(self._resample(x)) + h


class FourierEmbedding(nn.Module):
    """Magnitude-preserving Fourier features of a scalar in [0, 1], then a 2-layer MLP to `dim`."""

    def __init__(self, dim: int, features: int | None = None, hidden: int | None = None) -> None:
        super().__init__()
        features, hidden = features or dim, hidden or 2 * dim
        self.register_buffer("frequencies", 2 * math.pi * torch.randn(features))
        self.register_buffer("phases", 2 * math.pi * torch.rand(features))
        self.mlp = nn.Sequential(nn.Linear(features, hidden), nn.SiLU(), nn.Linear(hidden, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        features = math.sqrt(2) * torch.cos(t[:, None] * self.frequencies + self.phases)
        return self.mlp(features.to(self.mlp[0].weight.dtype))  # (B, D)


class ScalarEmbedding(nn.Module):
    def __init__(self, dim: int, hidden: int | None = None) -> None:
        super().__init__()
        hidden = hidden or 2 * dim
        self.mlp = nn.Sequential(nn.Linear(1, hidden), nn.SiLU(), nn.Linear(hidden, dim))

    def forward(self, value: torch.Tensor) -> torch.Tensor:
        return self.mlp(value[:, None].to(self.mlp[0].weight.dtype))  # (B, D)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, qkv_bias: bool = False) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.heads, dim // self.heads)
        q, k, v = qkv.float().permute(2, 0, 3, 1, 4)  # (B, heads, N, D/heads) each
        with torch.autocast(x.device.type, enabled=False):  # float32 under mixed precision
            out = F.scaled_dot_product_attention(q, k, v)  # (B, heads, N, D/heads)
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, dim))


class TransformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float, skip: bool = False):
        super().__init__()
        self.fuse = nn.Linear(2 * dim, dim) if skip else None
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attention = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Dropout(dropout),
            nn.Linear(hidden, dim), nn.Dropout(dropout),
        )  # fmt: skip

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        if self.fuse is not None:
            x = self.fuse(torch.cat([x, skip], dim=-1))  # (B, N, D)
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))
