"""The tasks and models of a study: the one list of their names and of what each model learns.

| model | backbone | learns | prediction |
|---|---|---|---|
| `flex` | FLEX | v of the residual r = target - base (diffusion) | base + sampled r |
| `flex_raw` | FLEX | v of the raw target (diffusion): the ablation of residual modelling | sampled target |
| `unet` | U-Net | v of the residual (diffusion) | base + sampled r |
| `regression` | FLEX | the residual, deterministically: r_hat = net(0, t=0, Re, input) | base + r_hat |
| `flex_crps` | FLEX | the residual through its sampler: fair CRPS of sampled members | base + sampled r |
| `uvit` | UViT | v of the residual (diffusion) | base + sampled r |
| `flex_mt` | FLEX, multi-task | v of each task's residual, both tasks at once (diffusion) | base + r |
| `flex_walls` | FLEX | as `flex`, trained on the wall-bounded trajectories (fine-tuning) | base + sampled r |
| `flex_continued` | FLEX | as `flex`, more training in the box (`flex_walls` control) | base + sampled r |

base = the up-sampled coarse field (sr) or the last frame (fc). Each task also has a trivial
baseline that needs no training: `bicubic` (sr: the base itself) and `persistence` (fc: frame t at
every lead). `flex_crps` unrolls `crps_steps` DDIM steps in training (`flex.diffusion.crps`).
`flex_mt` is the paper's main model: one common encoder, latent transformer and decoder shared by
all the study's tasks, one task encoder per task, trained on all of them at once (one training
job, in the folder of the pseudo-task `MULTITASK`); it is sampled and scored per task like the
others.
`flex_walls` is `flex` trained on the training and validation trajectories of the held-out
boundaries (`held_out_boundary`), usually fine-tuned from the periodic `flex` (`init_from`): the
authors' fine-tune mode, to measure what a little wall-bounded data buys over zero-shot.
`flex_continued` is its control: the same fine-tuning (`init_from`, required) on the periodic
training trajectories, so that what the wall data buy is told apart from what more training buys.
The configuration, the study plan, training and sampling all read these tables;
nothing else lists model names. (No torch here: the workflow imports it at parse time.)
"""

from __future__ import annotations

import dataclasses

TASKS = ("sr", "fc")
"""`sr`: super-resolution; `fc`: forecasting."""

TASK_TITLES = {"sr": "Super-resolution", "fc": "Forecasting"}
"""How figures and the report name the tasks."""

INPUT_CHANNELS = {"sr": 1, "fc": 2}
"""Channels of the task input: the up-sampled coarse frame (sr), frames t-1 and t (fc)."""


OBJECTIVES = ("v", "direct", "crps")
"""What a model is trained on: the diffusion loss on v (`flex.diffusion.loss`), the learned field
itself (regression), or the fair CRPS of sampled members (`flex.diffusion.crps`)."""


@dataclasses.dataclass(frozen=True)
class ModelKind:
    backbone: str
    diffusion: bool  # sampled from noise by DDIM; otherwise one deterministic member
    residual: bool  # learns target - base; otherwise the raw target
    objective: str = "v"  # one of OBJECTIVES
    multitask: bool = False  # one model for all the study's tasks, trained on them jointly
    walls: bool = False  # trained on the held-out boundaries' trajectories, not the periodic ones
    continued: bool = False  # trained further from `init_from` on the periodic trajectories only


MODEL_KINDS = {
    "flex": ModelKind("flex", diffusion=True, residual=True),
    "flex_raw": ModelKind("flex", diffusion=True, residual=False),
    "unet": ModelKind("unet", diffusion=True, residual=True),
    "regression": ModelKind("flex", diffusion=False, residual=True, objective="direct"),
    "flex_crps": ModelKind("flex", diffusion=True, residual=True, objective="crps"),
    "uvit": ModelKind("uvit", diffusion=True, residual=True),
    "flex_mt": ModelKind("flex", diffusion=True, residual=True, multitask=True),
    "flex_walls": ModelKind("flex", diffusion=True, residual=True, walls=True),
    "flex_continued": ModelKind("flex", diffusion=True, residual=True, continued=True),
}
"""The trained models (`train.models` chooses among them)."""

MULTITASK = "mt"
"""The task label of a multi-task model's training job (its folder: results/train/mt/{model})."""


def training_task(task: str, model: str) -> str:
    """The task label of the training job whose model file `task` samples with `model`."""
    return MULTITASK if MODEL_KINDS[model].multitask else task


TRIVIAL = {"sr": "bicubic", "fc": "persistence"}
"""The baseline of each task that needs no training."""

ZERO_SHOT_MODELS = ("flex",)
"""Trained super-resolution models also applied, zero-shot, to the velocity components."""

STEPS_STUDY_MODELS = ("flex", "flex_crps")
"""Models of the steps (and calibration) study: a diffusion model at every number of steps with
every sampler of the study; a CRPS-trained one (objective `crps`) at the steps it was trained
through, with the deterministic sampler it was trained with."""
