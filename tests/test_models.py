"""Backbones: the paper's parameter counts, shapes for every model and task, zero output at start."""

from __future__ import annotations

import pytest
import torch

from flex.models import build_model, parameter_count, preset
from flex.models.config import FLEX_PRESETS, UNET_PRESETS, UVIT_PRESETS

# FLEX(model_size=...) of the authors' code, single-task super-resolution at 256^2
# (docs/method.md, "Architecture")
PAPER_COUNTS = {"small": 49.7e6, "medium": 199.2e6, "big": 949.8e6}
# the multi-task FLEX of the authors' code (train_mt.py: a super-resolution and a forecasting
# task encoder around the shared parts), at 256^2
PAPER_MULTITASK_COUNTS = {"small": 58.3e6, "medium": 233.8e6, "big": 1089.8e6}
# UViT(model_size=...) of the authors' code, single-task super-resolution at 256^2
PAPER_UVIT_COUNTS = {"small": 40.2e6, "medium": 158.8e6, "big": 759.6e6}
# UNet(256, model_size=...) of the authors' code, counted part by part on the instantiated
# modules: (common encoder with its time and Re embeddings, super-resolution task encoder,
# forecasting task encoder, decoder with its embeddings); single-task sr 45.1M / 180.4M / 721.1M
PAPER_UNET_PARTS = {
    "small": (13_264_000, 11_154_528, 11_154_816, 20_730_081),
    "medium": (52_984_064, 44_572_864, 44_573_440, 82_821_569),
    "big": (211_792_384, 178_200_960, 178_202_112, 331_088_769),
}


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


def multitask(size: str, image_size: int = 256, **overrides):
    return build_model(preset("flex", size, 0, image_size, tasks=("sr", "fc"),
                              task_channels=(1, 2), **overrides))  # fmt: skip


@pytest.mark.parametrize("size", sorted(PAPER_MULTITASK_COUNTS))
def test_multitask_flex_has_the_papers_parameter_counts(size):
    """Shared parts once, one task encoder per task: single-task FLEX plus a forecasting task
    encoder (whose stem takes 2 frames)."""
    with torch.device("meta"):
        model, single = multitask(size), build_model(preset("flex", size, 1, 256))
    assert parameter_count(model) == pytest.approx(PAPER_MULTITASK_COUNTS[size], rel=0.001)
    extra = parameter_count(model) - parameter_count(single)
    assert extra == parameter_count(model.task_encoders["fc"])


def test_each_task_of_the_multitask_model_is_a_flex_with_its_task_encoder():
    """for_task(task) shares the weights: it computes what a single-task FLEX holding the shared
    parts and that task's encoder computes."""
    torch.manual_seed(0)
    model = multitask("tiny", 32).eval()
    for parameter in model.parameters():
        torch.nn.init.normal_(parameter, std=0.02)
    single = build_model(preset("flex", "tiny", 2, 32)).eval()
    shared = {k: v for k, v in model.state_dict().items() if not k.startswith("task_encoders.")}
    fc = {k.removeprefix("task_encoders.fc."): v for k, v in model.state_dict().items()
          if k.startswith("task_encoders.fc.")}  # fmt: skip
    single.load_state_dict({**shared, **{f"task_encoder.{k}": v for k, v in fc.items()}})
    args = (torch.randn(2, 1, 32, 32), torch.rand(2), torch.rand(2), torch.randn(2, 2, 32, 32))
    torch.testing.assert_close(model.for_task("fc")(*args), single(*args))
    with pytest.raises(ValueError, match="not one of this model's"):
        model.for_task("xx")


def test_positions_resample_to_a_smaller_token_grid_and_stay_at_the_trained_one():
    """The learned positions of the table's grid are used as they are; a 2x smaller grid gets
    each 2x2 block's mean (bilinear resampling at half the size: the sample points lie
    between the table's)."""
    torch.manual_seed(0)
    transformer = multitask("tiny", 64).transformer  # 64 / 2^4 = 4 x 4 tokens
    table = transformer.positions
    assert transformer.positions_for(4, 4) is table
    half = transformer.positions_for(2, 2)
    grid = table[0, 1:].reshape(4, 4, -1)
    blocks = grid.reshape(2, 2, 2, 2, -1).mean(dim=(1, 3)).reshape(4, -1)
    torch.testing.assert_close(half[0, 1:], blocks)
    torch.testing.assert_close(half[0, 0], table[0, 0])


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


@pytest.mark.parametrize("size", sorted(PAPER_UNET_PARTS))
def test_unet_presets_have_the_authors_parameter_counts_part_by_part(size):
    common, sr_task, fc_task, decoder = PAPER_UNET_PARTS[size]
    with torch.device("meta"):
        sr, fc = (build_model(preset("unet", size, channels, 256)) for channels in (1, 2))
    assert parameter_count(sr.encoder) + parameter_count(sr.time) + parameter_count(
        sr.reynolds) == common  # fmt: skip
    assert parameter_count(sr.task_encoder) + parameter_count(sr.task_reynolds) == sr_task
    assert parameter_count(fc.task_encoder) + parameter_count(fc.task_reynolds) == fc_task
    assert parameter_count(sr) == common + sr_task + decoder


def test_tiny_unet_has_the_parameters_of_tiny_flex():
    with torch.device("meta"):
        flex, unet = (build_model(preset(b, "tiny", 1, 64)) for b in ("flex", "unet"))
    assert parameter_count(unet) == pytest.approx(parameter_count(flex), rel=0.10)


@pytest.mark.parametrize("size", sorted(PAPER_UVIT_COUNTS))
def test_uvit_presets_have_the_papers_parameter_counts(size):
    with torch.device("meta"):
        model = build_model(preset("uvit", size, input_channels=1, image_size=256))
    assert parameter_count(model) == pytest.approx(PAPER_UVIT_COUNTS[size], rel=0.001)


def test_tiny_uvit_has_the_parameters_of_tiny_flex_and_small_s_depth_heads_and_tokens():
    with torch.device("meta"):
        flex, uvit = (build_model(preset(b, "tiny", 1, 64)) for b in ("flex", "uvit"))
    assert parameter_count(uvit) == pytest.approx(parameter_count(flex), rel=0.10)
    small = UVIT_PRESETS["small"]
    assert all(UVIT_PRESETS["tiny"][key] == small[key]
               for key in ("depth", "heads", "mlp_ratio", "token_patch"))  # fmt: skip


def test_uvit_unpatchify_inverts_the_patch_tokens():
    """Against torch's own patch extraction (F.unfold with kernel = stride = p: the pixels of
    each patch row-major, the patches row-major over the image)."""
    from flex.models.uvit import unpatchify

    image = torch.randn(2, 1, 24, 24)
    tokens = torch.nn.functional.unfold(image, 8, stride=8).transpose(1, 2)  # (B, 9, 64)
    torch.testing.assert_close(unpatchify(tokens, 8, 24), image)


@pytest.mark.parametrize("backbone", ["flex", "flex_mt", "uvit"])
def test_linear_layers_start_xavier_uniform_with_zero_bias(backbone):
    """The authors' initialisation of FLEX and UViT: |w| <= sqrt(6 / (fan_in + fan_out)), spread
    over the whole range (not PyTorch's default, bounded by 1 / sqrt(fan_in)), and zero bias."""
    torch.manual_seed(0)
    model = (multitask("tiny", 64) if backbone == "flex_mt"
             else build_model(preset(backbone, "tiny", 1, 64)))  # fmt: skip
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) > 50
    for layer in linears:
        weight = layer.weight.detach()
        fan_out, fan_in = weight.shape
        bound = (6 / (fan_in + fan_out)) ** 0.5
        assert float(weight.abs().max()) <= bound
        if weight.numel() > 1000:
            assert float(weight.abs().max()) > 0.95 * bound
        assert layer.bias is None or torch.count_nonzero(layer.bias) == 0


@pytest.mark.parametrize(("task_channels", "size"), [(1, 32), (2, 64)])
def test_uvit_shapes(task_channels, size):
    model = build_model(preset("uvit", "tiny", task_channels, size)).eval()
    out = model(torch.randn(3, 1, size, size), torch.rand(3), torch.rand(3),
                torch.randn(3, task_channels, size, size))  # fmt: skip
    assert out.shape == (3, 1, size, size) and torch.isfinite(out).all()


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


@pytest.mark.parametrize("backbone", ["flex", "unet", "uvit"])
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
    assert set(FLEX_PRESETS) == set(UNET_PRESETS) == set(UVIT_PRESETS)
    assert set(FLEX_PRESETS) == {"tiny", "small", "medium", "big"}
    with pytest.raises(ValueError, match="no preset"):
        preset("flex", "huge", 1, 256)
    with pytest.raises(ValueError, match="not divisible"):
        preset("flex", "small", 1, 200)


@pytest.mark.parametrize("backbone", ["flex", "unet", "uvit"])
def test_attention_runs_in_float32_under_bfloat16_autocast(backbone, monkeypatch):
    """As the authors' code: mixed precision leaves the softmax attention in float32 (q, k, v
    are cast up and autocast is off inside); without autocast nothing changes."""
    seen = []
    original = torch.nn.functional.scaled_dot_product_attention

    def spy(q, k, v, *args, **kwargs):
        out = original(q, k, v, *args, **kwargs)
        seen.append((q.dtype, out.dtype))
        return out

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    model = build_model(preset(backbone, "tiny", 1, 64)).eval()
    args = (torch.randn(1, 1, 64, 64), torch.rand(1), torch.rand(1), torch.randn(1, 1, 64, 64))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(*args)
    assert seen and set(seen) == {(torch.float32, torch.float32)}
