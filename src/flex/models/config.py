"""Model configurations and the registry of size presets (docs/method.md, "Architecture").

A checkpoint stores its `ModelConfig` (as a dict), so that a model rebuilds from its file alone.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """One backbone. `channels[l]` and `blocks[l]` per level; the token dimension of the latent
    transformer (FLEX) is `channels[-1]`; `depth` transformer blocks split as depth // 2 encoder,
    1 middle, depth // 2 decoder. `attention_levels` (U-Net) are the levels with self-attention."""

    backbone: str  # "flex" or "unet"
    input_channels: int  # task-encoder input: 1 for sr, 2 for fc
    image_size: int  # side of the (square) patch the model sees
    channels: tuple[int, ...]
    blocks: tuple[int, ...]
    depth: int = 0
    heads: int = 4
    mlp_ratio: float = 2.0
    dropout: float = 0.1
    groups: int = 32
    attention_levels: tuple[int, ...] = ()
    middle_blocks: int = 2

    def __post_init__(self) -> None:
        if len(self.channels) != len(self.blocks):
            raise ValueError(f"channels {self.channels} and blocks {self.blocks} differ in length")
        levels = len(self.channels) if self.backbone == "flex" else len(self.channels) - 1
        if self.image_size % 2**levels:
            raise ValueError(
                f"image_size {self.image_size} is not divisible by 2^{levels} (the down-samplings)"
            )

    @property
    def token_dim(self) -> int:
        return self.channels[-1]


FLEX_PRESETS = {
    # `small` at a quarter of its widths (channels and GroupNorm groups): the same levels, blocks,
    # transformer depth and heads, so the same proportions (latent transformer 15.5% of the
    # parameters, as in `small`; 6 long token skips); 3.1M parameters, trainable on a 2-core CPU
    "tiny": dict(channels=(16, 32, 32, 64), blocks=(2, 3, 3, 3), depth=13, heads=4, groups=8),
    # the paper's sizes (FLEX(model_size=...) in the authors' code)
    "small": dict(channels=(64, 128, 128, 256), blocks=(2, 3, 3, 3), depth=13, heads=4),
    "medium": dict(channels=(64, 128, 256, 512), blocks=(2, 3, 3, 4), depth=13, heads=8),
    "big": dict(channels=(128, 256, 512, 1152), blocks=(2, 3, 3, 3), depth=21, heads=16),
}

UNET_PRESETS = {
    # ADM-style U-Net baseline: base width x channel_mult, attention at the coarse levels.
    # `tiny`: `small` at a quarter of its widths, the last one 60 (not 64) so that its parameter
    # count matches FLEX tiny's (3.11M against 3.12M: a comparison at equal size)
    "tiny": dict(
        channels=(8, 16, 32, 32, 60),
        blocks=(1, 2, 2, 2, 6),
        attention_levels=(3, 4),
        heads=4,
        groups=4,
    ),
    "small": dict(
        channels=(32, 64, 128, 128, 256), blocks=(1, 2, 2, 2, 6), attention_levels=(3, 4), heads=4
    ),
    "medium": dict(
        channels=(64, 128, 256, 256, 512), blocks=(1, 2, 2, 2, 6), attention_levels=(3, 4), heads=4
    ),
    "big": dict(
        channels=(128, 256, 512, 512, 1024),
        blocks=(1, 2, 2, 2, 6),
        attention_levels=(3, 4),
        heads=4,
    ),
}

PRESETS = {"flex": FLEX_PRESETS, "unet": UNET_PRESETS}


def preset(
    backbone: str, size: str, input_channels: int, image_size: int, **overrides
) -> ModelConfig:
    """The `size` preset of `backbone` for a task with `input_channels`, at `image_size`."""
    try:
        settings = PRESETS[backbone][size]
    except KeyError:
        allowed = {b: sorted(p) for b, p in PRESETS.items()}
        raise ValueError(f"no preset {backbone!r}/{size!r}; allowed: {allowed}") from None
    return ModelConfig(backbone=backbone, input_channels=input_channels, image_size=image_size,
                       **{**settings, **overrides})  # fmt: skip
