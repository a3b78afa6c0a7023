"""FLEX (docs/method.md, "Architecture"): a U-Net with a latent transformer and a task encoder.

    task features  = TaskEncoder(task input, Re)                 # no diffusion time: cacheable
    common         = ConvEncoder(z_t; time + Re; + task skips)   # weak conditioning
    tokens         = [cond token; bottleneck pixels] + positions -> depth//2 blocks (+ skips) -> 1
    decoder tokens = token 0 += time + Re; depth//2 blocks fusing the encoder's token skips (LIFO)
    x              = LayerNorm -> drop cond token -> (B, D, h, w) + task bottleneck
    v_hat          = ConvDecoder(x; skips = common + task)       # strong conditioning

Every nn.Linear starts Xavier-uniform with zero bias (the authors' `initialize_weights`), the
learned token positions truncated-normal with std 0.02.

`encode_task` and `denoise` split the two, so that a sampler computes the task features once per
input and reuses them over every step and ensemble member.

`FlexMultiTask` (the paper's main model, section 2.3 and `train_mt.py` of the authors' code) shares
the common encoder, the latent transformer and the decoder between the tasks and has one task
encoder per task; `for_task(task)` is one task's model with the single-task interface. A token
grid other than the one of `image_size` (a task with a smaller patch) takes the learned positions
resampled bilinearly to its size, as vision transformers at another resolution (Dosovitskiy et
al. 2021, section 3.2).
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from flex.models.blocks import FourierEmbedding, ScalarEmbedding, TransformerBlock, xavier_linears
from flex.models.config import ModelConfig
from flex.models.encoder import ConvDecoder, ConvEncoder


@dataclasses.dataclass
class TaskFeatures:
    """The task encoder's output: bottleneck (B, D, h, w) and per-block skips."""

    bottleneck: torch.Tensor
    skips: list[torch.Tensor]

    def repeat(self, times: int) -> TaskFeatures:
        """Each input's features `times` times in a row (ensemble members of one input)."""
        return TaskFeatures(
            self.bottleneck.repeat_interleave(times, dim=0),
            [s.repeat_interleave(times, dim=0) for s in self.skips],
        )

    @staticmethod
    def cat(parts: list[TaskFeatures]) -> TaskFeatures:
        """The features of several batches (of the same spatial size) as one batch."""
        return TaskFeatures(torch.cat([p.bottleneck for p in parts]),
                            [torch.cat(s) for s in zip(*(p.skips for p in parts), strict=True)])  # fmt: skip


class TaskEncoder(nn.Module):
    """Conv encoder of the task input (up-sampled coarse field or past frames) with Re only."""

    def __init__(self, config: ModelConfig, input_channels: int) -> None:
        super().__init__()
        self.reynolds = ScalarEmbedding(config.token_dim)
        self.encoder = ConvEncoder(config, input_channels, config.token_dim)

    def forward(self, task_input: torch.Tensor, reynolds: torch.Tensor) -> TaskFeatures:
        bottleneck, skips = self.encoder(task_input, self.reynolds(reynolds))
        return TaskFeatures(bottleneck, skips)


class LatentTransformer(nn.Module):
    """One token per bottleneck pixel plus a conditioning token, learned positions (U-ViT)."""

    def __init__(self, config: ModelConfig, tokens: int) -> None:
        super().__init__()
        dim, half = config.token_dim, config.depth // 2
        args = (dim, config.heads, config.mlp_ratio, config.dropout)
        self.positions = nn.Parameter(torch.zeros(1, tokens + 1, dim))
        nn.init.trunc_normal_(self.positions, std=0.02)
        self.encoder_blocks = nn.ModuleList(TransformerBlock(*args) for _ in range(half))
        self.middle = TransformerBlock(*args)

    def positions_for(self, height: int, width: int) -> torch.Tensor:
        """The learned positions (1, 1 + h*w, D); the table's square grid resampled bilinearly
        to a grid of another size (the conditioning token's position is kept)."""
        tokens = self.positions.shape[1] - 1
        if height * width == tokens:
            return self.positions
        side, dim = round(tokens**0.5), self.positions.shape[2]
        grid = self.positions[:, 1:].transpose(1, 2).reshape(1, dim, side, side)
        grid = F.interpolate(grid, size=(height, width), mode="bilinear", align_corners=False)
        return torch.cat([self.positions[:, :1], grid.flatten(2).transpose(1, 2)], dim=1)

    def forward(self, x: torch.Tensor, condition: torch.Tensor):
        positions = self.positions_for(*x.shape[-2:])
        tokens = x.flatten(2).transpose(1, 2)  # (B, h*w, D)
        tokens = torch.cat([condition[:, None], tokens], dim=1) + positions  # (B, 1+h*w, D)
        skips = []
        for block in self.encoder_blocks:
            tokens = block(tokens)
            skips.append(tokens)
        return self.middle(tokens), skips


class FlexDecoder(nn.Module):
    def __init__(self, config: ModelConfig, skip_channels: list[int]) -> None:
        super().__init__()
        dim, half = config.token_dim, config.depth // 2
        self.time = FourierEmbedding(dim)
        self.reynolds = ScalarEmbedding(dim)
        self.blocks = nn.ModuleList(
            TransformerBlock(dim, config.heads, config.mlp_ratio, config.dropout, skip=True)
            for _ in range(half)
        )
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.conv = ConvDecoder(config, skip_channels)

    def forward(self, tokens, token_skips, skips, t, reynolds, task: TaskFeatures):
        condition = self.time(t) + self.reynolds(reynolds)  # (B, D)
        tokens = torch.cat([tokens[:, :1] + condition[:, None], tokens[:, 1:]], dim=1)
        for block in self.blocks:
            tokens = block(tokens, token_skips.pop())
        tokens = self.norm(tokens)[:, 1:]  # (B, h*w, D)
        batch, _, dim = tokens.shape
        height, width = task.bottleneck.shape[-2:]
        x = tokens.transpose(1, 2).reshape(batch, dim, height, width) + task.bottleneck
        return self.conv(x, condition, skips, task.skips)


class Flex(nn.Module):
    """The FLEX backbone for one task: v_hat = Flex(z_t, t, Re, task input)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.backbone != "flex" or config.tasks:
            raise ValueError(f"Flex needs a single-task 'flex' config, got {config.backbone!r} "
                             f"with tasks {config.tasks}")  # fmt: skip
        self.config = config
        self.task_encoder = TaskEncoder(config, config.input_channels)
        self._build_common(config)
        xavier_linears(self)  # the authors' initialisation

    def _build_common(self, config: ModelConfig) -> None:
        """The parts that do not see the task input: embeddings, common encoder, latent
        transformer, decoder."""
        dim = config.token_dim
        self.time = FourierEmbedding(dim)
        self.reynolds = ScalarEmbedding(dim)
        self.encoder = ConvEncoder(config, 1, dim)
        side = config.image_size // 2 ** len(config.channels)
        self.transformer = LatentTransformer(config, side * side)
        self.decoder = FlexDecoder(config, self.encoder.skip_channels)

    def encode_task(self, task_input: torch.Tensor, reynolds: torch.Tensor) -> TaskFeatures:
        return self.task_encoder(task_input, reynolds)

    def denoise(self, z, t, reynolds, task: TaskFeatures) -> torch.Tensor:
        condition = self.time(t) + self.reynolds(reynolds)  # (B, D)
        x, skips = self.encoder(z, condition, task.skips)  # weak conditioning
        tokens, token_skips = self.transformer(x, condition)
        return self.decoder(tokens, token_skips, skips, t, reynolds, task)

    def forward(self, z, t, reynolds, task_input) -> torch.Tensor:
        return self.denoise(z, t, reynolds, self.encode_task(task_input, reynolds))


class FlexMultiTask(Flex):
    """FLEX for several tasks: one task encoder per task of `config.tasks`, the rest shared.

    v_hat = common(z_t, t, Re, TaskEncoder_task(task input, Re)) for each task."""

    def __init__(self, config: ModelConfig) -> None:
        nn.Module.__init__(self)
        if config.backbone != "flex" or not config.tasks:
            raise ValueError(f"FlexMultiTask needs a 'flex' config with tasks, got "
                             f"{config.backbone!r} with tasks {config.tasks}")  # fmt: skip
        self.config = config
        self.task_encoders = nn.ModuleDict({
            task: TaskEncoder(config, channels)
            for task, channels in zip(config.tasks, config.task_channels, strict=True)
        })  # fmt: skip
        self._build_common(config)
        xavier_linears(self)

    def _task_encoder(self, task: str | None) -> TaskEncoder:
        if task not in self.task_encoders:
            raise ValueError(f"task {task!r} is not one of this model's {list(self.task_encoders)}")
        return self.task_encoders[task]

    def encode_task(self, task_input, reynolds, task: str | None = None) -> TaskFeatures:
        return self._task_encoder(task)(task_input, reynolds)

    def forward(self, z, t, reynolds, task_input, task: str | None = None) -> torch.Tensor:
        return self.denoise(z, t, reynolds, self.encode_task(task_input, reynolds, task))

    def for_task(self, task: str) -> TaskModel:
        """The model of one task, with the single-task interface (shares the weights)."""
        self._task_encoder(task)  # an unknown task fails here, not at its first use
        return TaskModel(self, task)


class TaskModel(nn.Module):
    """One task of a `FlexMultiTask`: encode_task / denoise / forward as a single-task model."""

    def __init__(self, model: FlexMultiTask, task: str) -> None:
        super().__init__()
        self.model, self.task = model, task

    def encode_task(self, task_input: torch.Tensor, reynolds: torch.Tensor) -> TaskFeatures:
        return self.model.encode_task(task_input, reynolds, self.task)

    def denoise(self, z, t, reynolds, task: TaskFeatures) -> torch.Tensor:
        return self.model.denoise(z, t, reynolds, task)

    def forward(self, z, t, reynolds, task_input) -> torch.Tensor:
        return self.model(z, t, reynolds, task_input, self.task)
