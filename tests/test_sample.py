"""The sample stage: ensembles, member seeds, task-feature reuse, rollouts, trivial baselines."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

from flex import dims
from flex.diffusion.predict import predict
from flex.diffusion.schedule import CosineLogSNR
from flex.kinds import MODEL_KINDS
from flex.models import build_model, preset
from flex.sample.rollout import rollout
from flex.sample.run import evaluation_indices
from tests.conftest import TINY, read_yaml


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    net = build_model(preset("flex", "tiny", 2, 32)).eval()
    for parameter in net.parameters():  # away from the zero initialisation
        torch.nn.init.normal_(parameter, std=0.05)
    return net


def _batch(n=3, channels=2):
    generator = torch.Generator().manual_seed(1)
    frames = torch.randn(n, channels, 32, 32, generator=generator)
    return frames, frames[:, -1:], torch.rand(n, generator=generator)


def test_member_k_is_the_same_whatever_the_batch(model):
    frames, base, reynolds = _batch()
    seeds = [[10 * b + k for k in range(4)] for b in range(3)]
    together = predict(model, MODEL_KINDS["flex"], frames, base, reynolds, seeds, 2, CosineLogSNR())
    alone = predict(model, MODEL_KINDS["flex"], frames[1:2], base[1:2], reynolds[1:2],
                    [seeds[1][2:3]], 2, CosineLogSNR())  # fmt: skip
    torch.testing.assert_close(together[1, 2], alone[0, 0], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(together[1, 0], together[1, 1])


def test_cached_task_features_equal_recomputing_them(model):
    frames, base, reynolds = _batch()
    seeds = [[b, b + 100] for b in range(3)]
    features = model.encode_task(frames, reynolds)
    cached = predict(model, MODEL_KINDS["flex"], frames, base, reynolds, seeds, 3, CosineLogSNR(),
                     features=features)  # fmt: skip
    fresh = predict(model, MODEL_KINDS["flex"], frames, base, reynolds, seeds, 3, CosineLogSNR())
    torch.testing.assert_close(cached, fresh)


def test_residual_raw_and_regression_predictions(model):
    frames, base, reynolds = _batch()
    seeds = [[1, 2]] * 3
    residual = predict(model, MODEL_KINDS["flex"], frames, base, reynolds, seeds, 2, CosineLogSNR())
    raw = predict(model, MODEL_KINDS["flex_raw"], frames, base, reynolds, seeds, 2, CosineLogSNR())
    torch.testing.assert_close(residual - base[:, None], raw)  # the same draw, base added or not
    regression = predict(model, MODEL_KINDS["regression"], frames, base, reynolds, seeds, 2,
                         CosineLogSNR())  # fmt: skip
    torch.testing.assert_close(regression[:, 0], regression[:, 1])  # deterministic


def test_rollouts_with_mean_and_member_feedback(model):
    frames, _, reynolds = _batch()
    seeds = [[[100 * b + 10 * k + lead for lead in range(3)] for k in range(2)] for b in range(3)]
    kind, schedule = MODEL_KINDS["flex"], CosineLogSNR()
    mean = rollout(model, kind, frames, reynolds, seeds, 2, schedule, "mean")
    member = rollout(model, kind, frames, reynolds, seeds, 2, schedule, "member")
    assert mean.shape == member.shape == (3, 2, 3, 32, 32)
    torch.testing.assert_close(mean[:, :, 0], member[:, :, 0], atol=1e-5, rtol=1e-5)  # same start
    assert not torch.allclose(mean[:, :, 2], member[:, :, 2])  # histories differ afterwards
    first = predict(model, kind, frames, frames[:, 1:], reynolds,
                    [[s[0] for s in per_member] for per_member in seeds], 2, schedule)  # fmt: skip
    torch.testing.assert_close(mean[:, :, 0], first[:, :, 0], atol=1e-5, rtol=1e-5)


def test_evaluation_indices_are_spread_evenly():
    assert evaluation_indices(10, None) == list(range(10))
    assert evaluation_indices(10, 3) == [0, 4, 9]  # rint(0, 4.5, 9), ties to even
    assert evaluation_indices(4, 10) == [0, 1, 2, 3]


def test_sample_files_follow_the_data_contract(tiny_results):
    config = read_yaml(TINY)
    members, horizon = config["sample"]["ensemble_size"], config["sample"]["horizon"]
    patch = config["data"]["patch_size"]
    with xr.open_dataset(tiny_results / "results/sample/sr/flex/re60_seed13.nc") as ds:
        assert ds.prediction.dims == (dims.SAMPLE, dims.MEMBER, dims.Y, dims.X)
        assert ds.sizes[dims.MEMBER] == members and ds.sizes[dims.Y] == patch
        assert ds.attrs["split"] == "held_out" and ds.attrs["sampling_steps"] == 2
        assert (
            ds.noise_seed.dims == (dims.SAMPLE, dims.MEMBER, dims.LEAD) or ds.noise_seed.ndim == 2
        )
        assert len(np.unique(ds.noise_seed.values)) == ds.noise_seed.size
        for name in ("prediction", "target", "input"):
            assert ds[name].attrs["units"] and ds[name].attrs["long_name"]
    with xr.open_dataset(tiny_results / "results/sample/fc/flex/re40_seed13.nc") as ds:
        assert ds.prediction.dims == (dims.SAMPLE, dims.MEMBER, dims.LEAD, dims.Y, dims.X)
        assert ds.sizes[dims.LEAD] == horizon and "prediction_member_feedback" in ds
        assert ds.attrs["split"] == "in_distribution"
    with xr.open_dataset(tiny_results / "results/sample/fc/persistence/re40_seed13.nc") as ds:
        assert ds.sizes[dims.MEMBER] == 1
        for lead in range(
            horizon
        ):  # persistence repeats frame t, which is the input's last channel
            np.testing.assert_array_equal(ds.prediction.isel(member=0, lead=lead),
                                          ds.input.isel(channel=1))  # fmt: skip
    with xr.open_dataset(tiny_results / "results/sample/sr/bicubic/re40_seed13.nc") as ds:
        np.testing.assert_array_equal(ds.prediction.isel(member=0), ds.input.isel(channel=0))
    with xr.open_dataset(tiny_results / "results/sample/sr/flex/re40_seed13_u.nc") as ds:
        assert ds.attrs["variable"] == "u"
