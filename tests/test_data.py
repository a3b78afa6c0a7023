"""Task examples: up-sampling, residuals, shapes, determinism, normalisation and split isolation."""

from __future__ import annotations

import itertools
import math

import netCDF4
import numpy as np
import pytest
import torch

from flex.config.load import load_study
from flex.data.examples import TaskExamples, TrajectoryFiles, random_location, residual
from flex.data.patches import read_patch, tiling_corners, wrapped_slices
from flex.data.splits import SPLITS, Trajectory, all_trajectories, trajectories
from flex.data.statistics import read_statistics
from flex.data.upsample import bicubic_upsample
from flex.errors import StageFailure
from flex.kinds import INPUT_CHANNELS
from tests.conftest import SCHEMA, TINY, read_yaml


@pytest.fixture(scope="module")
def study():
    return load_study(read_yaml(TINY), SCHEMA)


def files_of(results, split_trajectories):
    return [
        TrajectoryFiles(
            t,
            results / f"results/simulate/re{int(t.reynolds_number)}_seed{t.seed}.nc",
            results / f"results/coarsen/re{int(t.reynolds_number)}_seed{t.seed}.nc",
        )
        for t in split_trajectories
    ]


def make_examples(results, study, task, split="train", mode="train", seed=0, files=None, **kw):
    allowed = trajectories(study.reynolds_numbers, study.seeds, split)
    statistics = read_statistics(results / "results/coarsen/training_statistics.nc")
    return TaskExamples(
        task, files if files is not None else files_of(results, allowed), split, allowed,
        patch_size=kw.pop("patch_size", study.data.patch_size), normalisation=statistics["vorticity"],
        reynolds_scale=study.data.reynolds_scale, mode=mode,
        evaluation_stride=study.data.evaluation_snapshot_stride,
        examples_per_epoch=kw.pop("examples_per_epoch", 24), seed=seed, **kw,
    )  # fmt: skip


# -- up-sampling --------------------------------------------------------------------------------


KEYS_A = -0.75  # PyTorch's bicubic coefficient (Keys 1981 cubic convolution)


def keys_kernel(s: np.ndarray, a: float = KEYS_A) -> np.ndarray:
    """Keys' cubic convolution kernel W(s) (IEEE Trans. ASSP 29, 1153, 1981)."""
    s = np.abs(s)
    inner = (a + 2) * s**3 - (a + 3) * s**2 + 1
    outer = a * s**3 - 5 * a * s**2 + 8 * a * s - 4 * a
    return np.where(s <= 1, inner, np.where(s < 2, outer, 0.0))


def keys_upsample_1d(coarse: np.ndarray, factor: int) -> np.ndarray:
    """Independent reference along the last axis: align_corners=False, edge samples repeated."""
    n = coarse.shape[-1]
    source = (np.arange(n * factor) + 0.5) / factor - 0.5
    base = np.floor(source).astype(int)
    out = np.zeros((*coarse.shape[:-1], n * factor))
    for offset in range(-1, 3):
        index = np.clip(base + offset, 0, n - 1)
        out += coarse[..., index] * keys_kernel(source - (base + offset))
    return out


def _bicubic_error(coarse_points: int, factor: int = 4) -> float:
    """Max error of up-sampling a smooth periodic field sampled at block centres, away from edges."""
    fine_points = coarse_points * factor
    h = 2 * np.pi / fine_points
    fine_x = np.arange(fine_points) * h
    centres = (np.arange(coarse_points) * factor + (factor - 1) / 2) * h

    def field(x, y):
        return np.sin(x) * np.cos(2 * y) + 0.5 * np.cos(x + y)

    coarse = torch.tensor(field(*np.meshgrid(centres, centres, indexing="xy")))
    fine = bicubic_upsample(coarse, factor).numpy()
    exact = field(*np.meshgrid(fine_x, fine_x, indexing="xy"))
    margin = 2 * factor  # the per-patch up-sampling has no neighbours beyond the edge
    return float(np.abs(fine - exact)[margin:-margin, margin:-margin].max())


def test_random_corners_wrap_in_the_box_but_never_across_walls():
    corners = {False: set(), True: set()}
    for index in range(400):
        rng = np.random.default_rng((0, 0, index))
        f, _, y0, x0 = random_location(rng, [range(5), range(5)], 64, 8, (False, True), 32)
        corners[f == 1].add((y0, x0))
    box_rows = {y for y, _ in corners[False]}
    walled_rows = {y for y, _ in corners[True]}
    assert box_rows == set(range(0, 64, 8))  # the periodic patch wraps around
    assert walled_rows == set(range(0, 64 - 32 + 1, 8))  # from one wall to the other, no wrap
    assert {x for _, x in corners[True]} == set(range(0, 64, 8))  # x stays periodic


def test_bicubic_upsampling_equals_keys_cubic_convolution():
    coarse = np.random.default_rng(0).normal(size=(3, 8, 8))
    reference = keys_upsample_1d(keys_upsample_1d(coarse, 4).swapaxes(-1, -2), 4).swapaxes(-1, -2)
    np.testing.assert_allclose(bicubic_upsample(torch.tensor(coarse), 4).numpy(), reference,
                               atol=1e-12)  # fmt: skip


def test_bicubic_upsampling_of_a_smooth_field_converges():
    """With a = -0.75 cubic convolution is first-order accurate (only a = -1/2 is third-order,
    Keys 1981): the error halves with the coarse spacing and is small on resolved fields."""
    errors = [_bicubic_error(n) for n in (32, 64, 128, 256)]
    orders = [math.log2(a / b) for a, b in itertools.pairwise(errors)]
    assert all(0.9 < order < 1.1 for order in orders), orders
    assert errors[-1] < 3e-3  # field amplitude ~1.5, coarse spacing 2 pi / 256


def test_bicubic_upsampling_is_pytorchs_align_corners_false():
    coarse = torch.randn(2, 3, 8, 8)
    expected = torch.nn.functional.interpolate(coarse.reshape(6, 1, 8, 8), scale_factor=4,
                                               mode="bicubic", align_corners=False)  # fmt: skip
    torch.testing.assert_close(bicubic_upsample(coarse, 4), expected.reshape(2, 3, 32, 32))


# -- patches ------------------------------------------------------------------------------------


def test_periodic_patches_match_an_independent_roll():
    field = np.arange(5 * 12 * 12, dtype=np.float32).reshape(5, 12, 12)
    for y0, x0 in [(0, 0), (7, 3), (10, 11), (11, 5)]:
        expected = np.roll(field, (-y0, -x0), axis=(1, 2))[1:3, :5, :5]
        np.testing.assert_array_equal(read_patch(field, slice(1, 3), y0, x0, 5), expected)
    assert len(wrapped_slices(10, 5, 12)) == 2
    assert tiling_corners(12, 4) == [(y, x) for y in (0, 4, 8) for x in (0, 4, 8)]


# -- splits -------------------------------------------------------------------------------------


def test_splits_are_disjoint_and_held_out_reynolds_numbers_are_test_only(study):
    by_split = {s: trajectories(study.reynolds_numbers, study.seeds, s) for s in SPLITS}
    pairs = {s: {(t.reynolds_number, t.seed) for t in ts} for s, ts in by_split.items()}
    assert not pairs["train"] & pairs["validation"]
    assert not pairs["train"] & pairs["test"] and not pairs["validation"] & pairs["test"]
    held_out = set(study.reynolds_numbers.held_out)
    assert all(
        t.reynolds_number not in held_out for t in by_split["train"] + by_split["validation"]
    )
    assert {t.reynolds_number for t in by_split["test"] if t.held_out} == held_out
    assert len(all_trajectories(study.reynolds_numbers, study.seeds)) == sum(
        map(len, pairs.values())
    )


def test_no_test_seed_or_held_out_reynolds_number_reaches_training(tiny_results, study):
    train = make_examples(tiny_results, study, "sr", examples_per_epoch=200)
    seen = {(float(e["reynolds_number"]), int(e["seed"])) for e in train}
    allowed = {(re, s) for re in study.reynolds_numbers.train for s in study.seeds.train}
    assert seen == allowed  # every training trajectory is drawn, nothing else
    test_trajectory = Trajectory(60.0, 13, "test", held_out=True)
    for label in (test_trajectory, Trajectory(60.0, 13, "train")):  # honest and mislabelled
        with pytest.raises(
            (ValueError, StageFailure), match=r"(not in the|other splits given as) 'train'"
        ):
            make_examples(tiny_results, study, "fc", files=files_of(tiny_results, [label]))
    # a test file renamed into a training trajectory's place is refused by its own attributes
    disguised = files_of(tiny_results, [Trajectory(40.0, 11, "train")])[0]
    disguised = TrajectoryFiles(
        disguised.trajectory, tiny_results / "results/simulate/re40_seed13.nc"
    )
    with pytest.raises(StageFailure, match=r"re40_seed13.nc: .*\(40.0, 13\).* not in the 'train'"):
        make_examples(tiny_results, study, "fc", files=[disguised])


# -- examples -----------------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["sr", "fc"])
@pytest.mark.parametrize("mode", ["train", "evaluate"])
def test_example_shapes_dtypes_and_reynolds_scalar(tiny_results, study, task, mode):
    split = "train" if mode == "train" else "test"
    examples = make_examples(tiny_results, study, task, split=split, mode=mode)
    patch = study.data.patch_size
    example = examples[0]
    assert example["input"].shape == (INPUT_CHANNELS[task], patch, patch)
    assert example["base"].shape == example["target"].shape == (1, patch, patch)
    for key in ("input", "base", "target", "reynolds"):
        assert example[key].dtype == torch.float32
    assert float(example["reynolds"]) == pytest.approx(
        float(example["reynolds_number"]) / study.data.reynolds_scale
    )
    batch = next(iter(torch.utils.data.DataLoader(examples, batch_size=4)))
    assert batch["input"].shape == (4, INPUT_CHANNELS[task], patch, patch)


def test_evaluation_tiles_every_strided_snapshot_without_overlap(tiny_results, study):
    examples = make_examples(tiny_results, study, "fc", split="test", mode="evaluate")
    grid, patch = study.simulate.grid_size, study.data.patch_size
    tests = trajectories(study.reynolds_numbers, study.seeds, "test")
    times = len(
        range(1, study.simulate.num_snapshots - 1)[:: study.data.evaluation_snapshot_stride]
    )
    assert len(examples) == len(tests) * times * (grid // patch) ** 2
    corners = {tuple(examples[i]["corner"].tolist()) for i in range((grid // patch) ** 2)}
    assert corners == set(tiling_corners(grid, patch))


def test_examples_are_the_normalised_file_data_and_residual_reconstructs_target(
    tiny_results, study
):
    stats = read_statistics(tiny_results / "results/coarsen/training_statistics.nc")
    mean, std = stats["vorticity"]
    patch, factor = study.data.patch_size, study.coarsen.coarsen_factor
    for task in ("sr", "fc"):
        examples = make_examples(tiny_results, study, task, examples_per_epoch=6)
        for index in range(len(examples)):
            example = examples[index]
            f, t, y0, x0 = examples.locate(index)
            files = examples.files[f]
            with netCDF4.Dataset(files.fine) as fine:
                field = np.roll(fine["vorticity"][:], (-y0, -x0), axis=(1, 2))[:, :patch, :patch]
            target_frame = t if task == "sr" else t + 1
            np.testing.assert_allclose(example["target"][0].numpy(),
                                       (field[target_frame] - mean) / std, rtol=1e-6, atol=1e-6)  # fmt: skip
            if task == "fc":
                np.testing.assert_allclose(example["input"].numpy(), (field[t - 1 : t + 1] - mean) / std,
                                           rtol=1e-6, atol=1e-6)  # fmt: skip
                torch.testing.assert_close(example["base"], example["input"][1:2])
            else:
                assert y0 % factor == 0 and x0 % factor == 0  # on the coarse grid
                with netCDF4.Dataset(files.coarse) as coarse:
                    low = np.roll(
                        coarse["vorticity"][t], (-y0 // factor, -x0 // factor), axis=(0, 1)
                    )
                low = torch.tensor((low[: patch // factor, : patch // factor] - mean) / std)
                torch.testing.assert_close(
                    example["input"][0], bicubic_upsample(low, factor).float()
                )
            scale = float(example["target"].abs().max())
            torch.testing.assert_close(residual(example) + example["base"], example["target"],
                                       rtol=0, atol=2 * torch.finfo(torch.float32).eps * scale)  # fmt: skip


def test_training_examples_are_deterministic_under_a_seed_and_worker_count(tiny_results, study):
    first = make_examples(tiny_results, study, "sr", seed=5)
    second = make_examples(tiny_results, study, "sr", seed=5)
    other = make_examples(tiny_results, study, "sr", seed=6)
    assert all(torch.equal(first[i]["target"], second[i]["target"]) for i in range(len(first)))
    assert not all(torch.equal(first[i]["target"], other[i]["target"]) for i in range(len(first)))
    serial = next(iter(torch.utils.data.DataLoader(first, batch_size=24)))
    parallel = next(iter(torch.utils.data.DataLoader(second, batch_size=24, num_workers=2)))
    torch.testing.assert_close(serial["input"], parallel["input"], rtol=0, atol=0)
    first.set_epoch(1)
    assert not torch.equal(first[0]["target"], second[0]["target"])


def test_normalisation_comes_from_the_training_trajectories_only(tiny_results, study):
    stats = read_statistics(tiny_results / "results/coarsen/training_statistics.nc")
    values = {}
    for split in ("train", "test"):
        arrays = []
        for t in trajectories(study.reynolds_numbers, study.seeds, split):
            path = tiny_results / f"results/simulate/re{int(t.reynolds_number)}_seed{t.seed}.nc"
            with netCDF4.Dataset(path) as ds:
                arrays.append(np.asarray(ds["vorticity"][:], dtype=np.float64).ravel())
        values[split] = np.concatenate(arrays)
    mean, std = stats["vorticity"]
    assert mean == pytest.approx(values["train"].mean(), abs=1e-9)
    assert std == pytest.approx(values["train"].std(), rel=1e-9)
    assert std != pytest.approx(np.concatenate([values["train"], values["test"]]).std(), rel=1e-3)


def test_statistics_stage_refuses_a_file_outside_the_training_split(tiny_results, tmp_path):
    from flex.config import CoarsenExecution, StatisticsJob
    from flex.statistics.run import run

    job = StatisticsJob(train_reynolds_numbers=(40.0,), train_seeds=(11,))
    test_file = tiny_results / "results/simulate/re40_seed13.nc"
    with pytest.raises(StageFailure, match=r"\(40.0, 13\).* not in the 'train' split"):
        run(job, CoarsenExecution(snapshots_per_chunk=4),
            [tiny_results / "results/simulate/re40_seed11.nc", test_file], tmp_path / "s.nc")  # fmt: skip
    assert not (tmp_path / "s.nc").exists()


def test_statistics_do_not_depend_on_the_chunk_size(tiny_results, tmp_path):
    """`execution.coarsen.snapshots_per_chunk` is an execution setting: the same numbers, exactly
    (per-snapshot sums added with math.fsum)."""
    from flex.config import CoarsenExecution, StatisticsJob
    from flex.statistics.run import run

    job = StatisticsJob(train_reynolds_numbers=(40.0, 80.0), train_seeds=(11,))
    inputs = [tiny_results / f"results/simulate/re{re}_seed11.nc" for re in (40, 80)]
    found = []
    for chunk in (1, 5, 100):
        run(job, CoarsenExecution(snapshots_per_chunk=chunk), inputs, tmp_path / f"{chunk}.nc")
        found.append(read_statistics(tmp_path / f"{chunk}.nc"))
    assert found[0] == found[1] == found[2]


# -- multi-task examples ------------------------------------------------------------------------


@pytest.mark.parametrize("fc_patch", [32, 16])
def test_multitask_examples_share_trajectory_frame_and_corner(tiny_results, study, fc_patch):
    """Each example of a multi-task model holds one example per task, drawn at the same
    trajectory, frame t and corner: the sr target (fine frame t) is the fc base (frame t) on the
    pixels they share, and the sr corner lies on the coarse grid."""
    from flex.data.multitask import MultiTaskExamples

    parts = {"sr": make_examples(tiny_results, study, "sr", seed=3),
             "fc": make_examples(tiny_results, study, "fc", seed=3, patch_size=fc_patch)}  # fmt: skip
    examples = MultiTaskExamples(parts, 12, seed=3)
    factor = parts["sr"].factor
    for index in range(len(examples)):
        pair = examples[index]
        sr, fc = pair["sr"], pair["fc"]
        for key in ("time_index", "corner", "reynolds", "seed"):
            assert torch.equal(sr[key], fc[key]), key
        assert int(sr["corner"][0]) % factor == 0 and int(sr["corner"][1]) % factor == 0
        assert 1 <= int(fc["time_index"]) <= study.simulate.num_snapshots - 2
        torch.testing.assert_close(sr["target"][:, :fc_patch, :fc_patch], fc["base"])
    again = MultiTaskExamples(parts, 12, seed=3)[5]
    assert all(torch.equal(again[t][k], examples[5][t][k]) for t in parts for k in again[t])
    with pytest.raises(ValueError, match="mode 'train'"):
        MultiTaskExamples({**parts, "fc": make_examples(tiny_results, study, "fc", split="test",
                                                        mode="evaluate")}, 4, 0)  # fmt: skip
