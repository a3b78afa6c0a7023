"""Backbones: the paper's parameter counts, shapes for every model and task, zero output at start."""

from __future__ import annotations

import pytest
import torch

from flex.models import build_model, parameter_count, preset
from flex.models.config import FLEX_PRESETS, UNET_PRESETS

# FLEX(model_size=...) of the authors' code, single-task super-resolution at 256^2
# (docs/method.md, "Architecture")
PAPER_COUNTS = {"small": 49.7e6, "medium": 199.2e6, "big": 949.8e6}


@pytest.mark.parametrize("size", sorted(PAPER_COUNTS))
def test_flex_presets_have_the_papers_parameter_counts(size):
    with torch.device("meta"):  # no memory is allocated
        model = build_model(preset("flex", size, input_channels=1, image_size=256))
    assert parameter_count(model) == pytest.approx(PAPER_COUNTS[size], rel=0.01)


def test_flex_parts_match_the_papers_breakdown():
    """Common encoder 12.61M, task encoder 8.60M, decoder 28.51M for FLEX small (section 3.1)."""
    with torch.device("meta"):
        model = build_model(preset("flex", "small", 1, 256))
    common = sum(parameter_count(m) for m in (model.encoder, model.transformer, model.time,
                                              model.reynolds))  # fmt: skip
    assert common == pytest.approx(12.61e6, rel=0.005)
    assert parameter_count(model.task_encoder) == pytest.approx(8.60e6, rel=0.005)
    assert parameter_count(model.decoder) == pytest.approx(28.51e6, rel=0.005)


def transformer_share(model) -> float:
    """The latent transformer's share of FLEX's parameters (its encoder, middle and decoder
    token blocks)."""
    transformer = parameter_count(model.transformer) + parameter_count(model.decoder.blocks)
    return transformer / parameter_count(model)


def test_tiny_flex_keeps_the_proportions_of_small():
    """Scaled in width, not architecture: the transformer's share within 3 points of small's, at
    least 2 long token skips, and as many down-samplings (the same bottleneck / patch ratio)."""
    with torch.device("meta"):
        tiny = build_model(preset("flex", "tiny", 1, 64))
        small = build_model(preset("flex", "small", 1, 256))
    assert abs(transformer_share(tiny) - transformer_share(small)) < 0.03
    assert transformer_share(small) == pytest.approx(0.15, abs=0.01)
    assert tiny.config.depth // 2 >= 2
    assert len(tiny.config.channels) == len(small.config.channels)
    assert 1e6 < parameter_count(tiny) < 5e6  # trainable on a laptop CPU


def test_tiny_unet_has_the_parameters_of_tiny_flex():
    with torch.device("meta"):
        flex, unet = (build_model(preset(b, "tiny", 1, 64)) for b in ("flex", "unet"))
    assert parameter_count(unet) == pytest.approx(parameter_count(flex), rel=0.10)


@pytest.mark.parametrize("backbone", ["flex", "unet"])
@pytest.mark.parametrize(("task_channels", "size"), [(1, 32), (2, 64)])
def test_shapes_and_zero_output_at_initialisation(backbone, task_channels, size):
    torch.manual_seed(0)
    model = build_model(preset(backbone, "tiny", task_channels, size)).eval()
    z = torch.randn(3, 1, size, size)
    task_input = torch.randn(3, task_channels, size, size)
    out = model(z, torch.rand(3), torch.rand(3), task_input)
    assert out.shape == (3, 1, size, size)
    assert torch.count_nonzero(out) == 0  # zero-initialised output convolution


@pytest.mark.parametrize("backbone", ["flex", "unet"])
def test_task_features_cached_once_give_the_same_output(backbone):
    torch.manual_seed(0)
    model = build_model(preset(backbone, "tiny", 2, 32)).eval()
    for parameter in model.parameters():  # leave the zero initialisation
        torch.nn.init.normal_(parameter, std=0.02)
    z, t, re, task_input = (
        torch.randn(2, 1, 32, 32),
        torch.rand(2),
        torch.rand(2),
        torch.randn(2, 2, 32, 32),
    )
    features = model.encode_task(task_input, re)
    torch.testing.assert_close(model.denoise(z, t, re, features), model(z, t, re, task_input))
    repeated = features.repeat(3)
    assert repeated.bottleneck.shape[0] == 6
    torch.testing.assert_close(repeated.skips[0][1], features.skips[0][0])


def test_presets_exist_for_both_backbones_and_bad_sizes_are_refused():
    assert set(FLEX_PRESETS) == set(UNET_PRESETS) == {"tiny", "small", "medium", "big"}
    with pytest.raises(ValueError, match="no preset"):
        preset("flex", "huge", 1, 256)
    with pytest.raises(ValueError, match="not divisible"):
        preset("flex", "small", 1, 200)
