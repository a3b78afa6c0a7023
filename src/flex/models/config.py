"""Model configurations and the registry of size presets (docs/method.md, "Architecture").

A checkpoint stores its `ModelConfig` (as a dict), so that a model rebuilds from its file alone.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """One backbone. `channels[l]` and `blocks[l]` per level; the token dimension of the latent
    transformer (FLEX) is `channels[-1]`; `depth` transformer blocks split as depth // 2 encoder,
    1 middle, depth // 2 decoder. `attention_levels` (U-Net) are the levels with self-attention.
    A multi-task FLEX has one task encoder per task of `tasks`, with `task_channels` inputs each
    (its `input_channels` is 0), and `image_size` is its largest task's patch."""

    backbone: str  # "flex", "unet" or "uvit"
    input_channels: int  # task-encoder input: 1 for sr, 2 for fc; 0 for a multi-task model
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
    tasks: tuple[str, ...] = ()
    task_channels: tuple[int, ...] = ()
    token_patch: int = 0  # UViT: side of the pixel patch of one token
    task_dropout: float | None = None  # U-Net: the task encoder's dropout (None: `dropout`)

    def __post_init__(self) -> None:
        if len(self.channels) != len(self.blocks):
            raise ValueError(f"channels {self.channels} and blocks {self.blocks} differ in length")
        if len(self.tasks) != len(self.task_channels):
            raise ValueError(f"tasks {self.tasks} and task_channels {self.task_channels} differ "
                             "in length")  # fmt: skip
        if self.tasks and (self.backbone != "flex" or self.input_channels):
            raise ValueError(f"a multi-task model is a 'flex' backbone with input_channels 0, "
                             f"not {self.backbone!r} with {self.input_channels}")  # fmt: skip
        if self.backbone == "uvit":
            if len(self.channels) != 1 or self.token_patch < 1:
                raise ValueError(f"a uvit has one width (channels {self.channels}) and a token "
                                 f"patch >= 1 (token_patch {self.token_patch})")  # fmt: skip
            if self.image_size % self.token_patch:
                raise ValueError(f"image_size {self.image_size} is not divisible by the token "
                                 f"patch {self.token_patch}")  # fmt: skip
            return
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
    # the authors' UNet(model_size=...): base width x channel_mult, attention at the two coarsest
    # levels (theirs: at 32^2 and 16^2 of a 256^2 patch, levels 3 and 4).
    # `tiny`: `small` at a quarter of its widths, the last one 68 (not 64) so that its parameter
    # count matches FLEX tiny's (3.13M against 3.12M: a comparison at equal size)
    "tiny": dict(
        channels=(8, 16, 32, 32, 68),
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

UVIT_PRESETS = {
    # the authors' UViT(model_size=...): token width D = channels[0], 8 x 8-pixel tokens, MLP
    # ratio 4 (no convolutional levels: blocks (0,)). `tiny`: the same depth, heads and tokens,
    # the width that gives FLEX tiny's parameter count within 10% (2.93M against 3.12M at 64^2)
    "tiny": dict(channels=(104,), blocks=(0,), depth=13, heads=8, mlp_ratio=4.0, token_patch=8),
    "small": dict(channels=(384,), blocks=(0,), depth=13, heads=8, mlp_ratio=4.0, token_patch=8),
    "medium": dict(channels=(768,), blocks=(0,), depth=13, heads=12, mlp_ratio=4.0, token_patch=8),
    "big": dict(channels=(1152,), blocks=(0,), depth=29, heads=16, mlp_ratio=4.0, token_patch=8),
}

PRESETS = {"flex": FLEX_PRESETS, "unet": UNET_PRESETS, "uvit": UVIT_PRESETS}

# (backbone, task) -> the task encoder's dropout where the authors' differs from the model's
# `dropout`: their U-Net's forecasting task encoder drops 0.15
TASK_DROPOUT = {("unet", "fc"): 0.15}


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
