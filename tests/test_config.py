"""Configuration: every shipped study validates; each forbidden value fails naming key and value."""

from __future__ import annotations

import subprocess

import pytest

from flex.config import ConfigError
from flex.config.load import layered, load_study, load_study_file, merged
from tests.conftest import ROOT, SCHEMA


@pytest.mark.parametrize(
    "name", ["config/config.yaml", "config/paper.yaml", "tests/config/tiny.yaml"]
)
def test_shipped_configs_are_valid(name):
    study, _ = load_study_file(ROOT / name, SCHEMA)
    assert study.simulate.grid_size % study.coarsen.coarsen_factor == 0
    assert len(study.reynolds_numbers.train) >= 3 and len(study.reynolds_numbers.held_out) >= 2


def test_default_study_has_a_held_out_reynolds_number_inside_and_outside_the_training_range():
    study, _ = load_study_file(ROOT / "config/config.yaml", SCHEMA)
    low, high = min(study.reynolds_numbers.train), max(study.reynolds_numbers.train)
    held_out = study.reynolds_numbers.held_out
    assert any(low < re < high for re in held_out)
    assert any(re < low or re > high for re in held_out)


def test_paper_study_matches_the_paper():
    study, _ = load_study_file(ROOT / "config/paper.yaml", SCHEMA)
    assert study.simulate.grid_size == 2048 and study.coarsen.coarsen_factor == 8
    assert study.reynolds_numbers.train == (2000, 4000, 8000, 16000, 32000)
    assert study.reynolds_numbers.held_out == (600, 1000, 12000, 24000, 36000)
    assert 1400 <= study.simulate.num_snapshots <= 1600


def _set(config, dotted, value):
    *parents, last = dotted.split(".")
    node = config
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value


_DELETE = object()

BAD_VALUES = [
    # (key, value, words the message must contain)
    ("simulate.colour", "red", ["unknown key 'simulate.colour'", "allowed keys in 'simulate'"]),
    ("extra_section", {}, ["unknown key 'extra_section'"]),
    ("simulate.grid_size", "big", ["'simulate.grid_size'", "'big'", "type integer"]),
    ("simulate.dealias", 1, ["'simulate.dealias'", "type boolean"]),
    ("reynolds_numbers.train", [500, -1000], ["'reynolds_numbers.train[1]'", "-1000", "> 0"]),
    ("reynolds_numbers.held_out", [0], ["'reynolds_numbers.held_out[0]'", "= 0", "> 0"]),
    ("reynolds_numbers.train", [], ["'reynolds_numbers.train'", "[]", "at least 1 item"]),
    ("seeds.test", [], ["'seeds.test'", "at least 1 item"]),
    ("simulate.dtype", "float16", ["'simulate.dtype'", "float16", "'float32', 'float64'"]),
    ("coarsen.method", "magic", ["'coarsen.method'", "subsample"]),
    ("simulate.save_interval", 0, ["'simulate.save_interval'", "> 0"]),
    ("simulate.grid_size", _DELETE, ["missing key 'simulate.grid_size'"]),
    ("data.patch_size", "big", ["'data.patch_size' = 'big'", "an integer >= 2 or a mapping"]),
    ("data.patch_size", {"sr": 32, "xx": 32}, ["'data.patch_size' has the key 'xx'", "'sr', 'fc'"]),
    ("data.patch_size", {"sr": 1, "fc": 32}, ["'data.patch_size.sr' = 1", ">= 2"]),
    ("data.patch_size", {"sr": 32.0, "fc": 32}, ["'data.patch_size.sr' = 32.0", "type integer"]),
    ("simulate.time_step", -1, ["'simulate.time_step' = -1", "a number > 0"]),
]


@pytest.mark.parametrize(("key", "value", "words"), BAD_VALUES, ids=[b[0] for b in BAD_VALUES])
def test_schema_violation_names_key_value_and_rule(tiny_config, key, value, words):
    _set(tiny_config, key, value)
    with pytest.raises(ConfigError) as info:
        load_study(tiny_config, SCHEMA)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_grid_not_divisible_by_coarsen_factor(tiny_config):
    tiny_config["simulate"]["grid_size"] = 60
    with pytest.raises(ConfigError, match=r"'simulate.grid_size' = 60 is not divisible by "
                       r"'coarsen.coarsen_factor' = 8"):  # fmt: skip
        load_study(tiny_config, SCHEMA)


def test_same_seed_in_two_splits(tiny_config):
    tiny_config["seeds"]["test"] = [13, 11]
    with pytest.raises(ConfigError, match=r"seed\(s\) \[11\] appear in both 'seeds.train' and "
                       r"'seeds.test'"):  # fmt: skip
        load_study(tiny_config, SCHEMA)


def test_held_out_reynolds_number_that_is_also_a_training_one(tiny_config):
    tiny_config["reynolds_numbers"]["held_out"] = [60, 80]
    with pytest.raises(ConfigError, match=r"\[80\] appear in both 'reynolds_numbers.train' and "
                       r"'reynolds_numbers.held_out'"):  # fmt: skip
        load_study(tiny_config, SCHEMA)


def test_all_problems_are_reported_at_once(tiny_config):
    tiny_config["simulate"]["grid_size"] = "big"
    tiny_config["seeds"]["train"] = []
    with pytest.raises(ConfigError) as info:
        load_study(tiny_config, SCHEMA)
    assert len(info.value.problems) == 2


NON_FINITE_AND_NOT_INTEGER = [
    ("reynolds_numbers.train", [40, float("nan")], "'reynolds_numbers.train[1]' = nan"),
    ("simulate.time_step", float("nan"), "'simulate.time_step' = nan"),
    ("simulate.save_interval", float("inf"), "'simulate.save_interval' = inf"),
    ("physics.drag", float("nan"), "'physics.drag' = nan"),
    ("train.defaults.learning_rate", float("nan"), "'train.defaults.learning_rate' = nan"),
    ("simulate.grid_size", 64.0, "'simulate.grid_size' = 64.0 is not allowed; expected a value "
     "of type integer"),
    ("train.defaults.steps", 6.0, "'train.defaults.steps' = 6.0"),
]  # fmt: skip


@pytest.mark.parametrize(("key", "value", "words"), NON_FINITE_AND_NOT_INTEGER,
                         ids=[case[0] for case in NON_FINITE_AND_NOT_INTEGER])  # fmt: skip
def test_non_finite_numbers_and_float_integers_are_refused(tiny_config, key, value, words):
    _set(tiny_config, key, value)
    with pytest.raises(ConfigError) as info:
        load_study(tiny_config, SCHEMA)
    assert words in str(info.value), str(info.value)


def _sample(config, **values):
    config["sample"].update(values)


CROSS_FIELD = [
    # (edit, words the one line must contain)
    (lambda c: (c["coarsen"].update(coarsen_factor=4), c["data"].update(patch_size=20),
                c["train"].update(models=["flex"])),
     ["'data.patch_size' = 20", "'tiny' flex backbone", "'train.defaults.model_size'",
      "not divisible by 2^4"]),
    (lambda c: (c["train"].update(tasks=["fc"], models=["unet"]),
                c["train"]["overrides"].update({"fc/unet": {"model_size": "small"}}),
                c["data"].update(patch_size=24), c["coarsen"].update(coarsen_factor=8)),
     ["'data.patch_size' = 24", "'small' unet backbone",
      "train.overrides['fc/unet'].model_size"]),
    (lambda c: c["data"].update(patch_size={"sr": 32}),
     ["'data.patch_size' = {'sr': 32} has no side for the task 'fc'", "one for each of ['sr', "]),
    (lambda c: c["data"].update(patch_size={"sr": 128, "fc": 32}),
     ["'data.patch_size.sr' = 128 is larger than 'simulate.grid_size' = 64"]),
    (lambda c: c["data"].update(patch_size={"sr": 8, "fc": 32}),
     ["'coarsen.coarsen_factor' = 8 leaves 1 coarse value(s)", "'data.patch_size.sr' = 8"]),
    (lambda c: c["simulate"].update(num_snapshots=3),
     ["'sample.horizon' = 2 needs 4 snapshots", "'simulate.num_snapshots' = 3"]),
    (lambda c: (c["simulate"].update(num_snapshots=4), _sample(c, horizon=3)),
     ["'sample.horizon' = 3 needs 5 snapshots", "allowed: at least 5 snapshots or a horizon "
      "of at most 2"]),
    (lambda c: c["simulate"].update(evaluation_num_snapshots=3),
     ["'sample.horizon' = 2 needs 4 snapshots", "'simulate.evaluation_num_snapshots' = 3"]),
    (lambda c: c["simulate"].update(num_snapshots=2, evaluation_num_snapshots=12),
     ["forecasting training examples needs 3 snapshots", "'simulate.num_snapshots' = 2"]),
    (lambda c: c["simulate"].update(evaluation_num_snapshots=0),
     ["simulate.evaluation_num_snapshots"]),
    (lambda c: c["simulate"].update(time_step=0.5),
     ["'simulate.time_step' = 0.5 is longer than 'simulate.save_interval' = 0.2"]),
    (lambda c: c["simulate"].update(courant_abort=0.3),
     ["'simulate.courant_abort' = 0.3 is below 'simulate.courant_number' = 0.5"]),
    (lambda c: c["coarsen"].update(coarsen_factor=32),
     ["'coarsen.coarsen_factor' = 32 leaves 1 coarse value(s)", "'data.patch_size' = 32"]),
    (lambda c: c["physics"].update(forcing_wavenumber=30),
     ["'physics.forcing_wavenumber' = 30", "'simulate.grid_size' = 64", "below 21.3"]),
    (lambda c: c["figures"].update(example_sample=4),
     ["'figures.example_sample' = 4 is beyond the 4 evaluation patches", "'sample.max_samples'"]),
    (lambda c: c["figures"].update(example_reynolds_number=70),
     ["'figures.example_reynolds_number' = 70 is not a Reynolds number of the study"]),
    (lambda c: (c["train"].update(models=["flex"]),
                c["train"]["overrides"].update({"sr/unet": {"learning_rate": 1e-3}})),
     ["'train.overrides' has the key 'sr/unet'", "is not trained"]),
    (lambda c: c["reynolds_numbers"].update(held_out=[60, 40.0000001]),
     ["[40, 40.0000001]", "share the file name re40"]),
    (lambda c: c["train"].update(models=["flex", "gan"]),
     ["'train.models[1]' = 'gan' is not allowed", "flex, flex_raw, unet, regression"]),
    # fine-tuning: another single-task model of the same backbone and size, no cycle
    (lambda c: c["train"].update(overrides={"sr/unet": {"init_from": "flex"}}),
     ["'train.overrides['sr/unet'].init_from' = 'flex' for sr/unet is not allowed",
      "single-task unet model of 'train.models' (none)"]),
    (lambda c: c["train"].update(overrides={"sr/flex": {"init_from": "flex"}}),
     ["'train.overrides['sr/flex'].init_from' = 'flex'", "(flex_raw, regression)"]),
    (lambda c: c["train"].update(overrides={"sr/flex": {"init_from": "flex_crps"}}),
     ["'flex_crps' for sr/flex is not allowed", "(flex_raw, regression)"]),
    (lambda c: c["train"].update(overrides={"mt/flex_mt": {"init_from": "flex"}}),
     ["'train.overrides['mt/flex_mt'].init_from' = 'flex'", "(none)"]),
    (lambda c: c["train"]["defaults"].update(init_from="flex_raw"),
     ["'train.defaults.init_from' = 'flex_raw' for sr/flex_raw is not allowed"]),
    (lambda c: c["train"].update(overrides={"fc/flex": {"init_from": "regression"},
                                            "fc/regression": {"init_from": "flex"}}),
     ["'init_from' makes fc/flex -> fc/regression -> fc/flex start from itself",
      "chains that end at a model trained from scratch"]),
    (lambda c: c["train"].update(overrides={"fc/flex_raw": {"init_from": "flex",
                                                            "model_size": "small"}}),
     ["fc/flex_raw is 'small' but fc/flex is 'tiny'", "a model of the same model_size"]),
    # the control of a fine-tuning continues another model: it has no training of its own
    (lambda c: c["train"].update(models=["flex", "unet", "flex_continued"]),
     ["'train.overrides['sr/flex_continued'].init_from' is not set",
      "allowed: a single-task flex model of 'train.models' (flex)"]),
    (lambda c: c["train"].update(models=["flex", "unet", "flex_continued"], overrides={
        f"{t}/flex_continued": {"init_from": "unet"} for t in ("sr", "fc")}),
     ["'train.overrides['fc/flex_continued'].init_from' = 'unet' for fc/flex_continued is not "
      "allowed; allowed: another single-task flex model of 'train.models' (flex)"]),
    (lambda c: (c["train"].update(models=["flex", "flex_walls", "flex_continued"], overrides={
        f"{t}/{m}": {"init_from": "flex", "learning_rate": 1.0e-4}
        for t in ("sr", "fc") for m in ("flex_walls", "flex_continued")}),
                c["train"]["overrides"]["fc/flex_continued"].update(steps=9),
                c["held_out_boundary"].update(reynolds_numbers=[40])),
     ["'train.overrides['fc/flex_continued']' differs from 'train.overrides['fc/flex_walls']' in "
      "steps (9 against 6)", "the same training on the periodic trajectories"]),
    # a model trained on walls needs wall-bounded runs at a training Reynolds number
    (lambda c: c["train"].update(models=["flex", "flex_walls"]),
     ["'train.models' has 'flex_walls', which trains on the wall-bounded trajectories",
      "'held_out_boundary.reynolds_numbers' = ['60']",
      "'reynolds_numbers.train' (['40', '80', '160']) among them"]),
    (lambda c: (c["train"].update(models=["flex", "flex_walls"]),
                c["held_out_boundary"].update(boundaries=[], reynolds_numbers=[40])),
     ["'held_out_boundary.boundaries' = [] and 'held_out_boundary.reynolds_numbers' = ['40']"]),
]  # fmt: skip


@pytest.mark.parametrize(("edit", "words"), CROSS_FIELD, ids=[w[0][:40] for _, w in CROSS_FIELD])
def test_cross_field_rules_name_the_keys_and_what_is_allowed(tiny_config, edit, words):
    edit(tiny_config)
    with pytest.raises(ConfigError) as info:
        load_study(tiny_config, SCHEMA)
    lines = [line for line in info.value.problems if words[0] in line]
    assert len(lines) == 1, info.value.problems
    for word in words:
        assert word in lines[0], (word, lines[0])


def test_missing_keys_are_reported_once_each(tiny_config):
    del tiny_config["simulate"]
    del tiny_config["data"]["patch_size"]
    with pytest.raises(ConfigError) as info:
        load_study(tiny_config, SCHEMA)
    assert info.value.problems == ["missing key 'simulate'", "missing key 'data.patch_size'"]


def _check_config(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(["flex", "check-config", *args], cwd=cwd, capture_output=True,
                          text=True)  # fmt: skip


def test_check_config_never_prints_a_traceback(tmp_path):
    (tmp_path / "empty.yaml").write_text("")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    (tmp_path / "broken.yaml").write_text("physics: {drag: [\n")
    (tmp_path / "partial.yaml").write_text("sample: {ensemble_size: 4}\n")
    (tmp_path / "bad.yaml").write_text("physics: {drag: .nan}\nsimulate: {grid_size: 64.0}\n")
    cases = {  # file: (exit status, words), run from outside the repository
        "missing.yaml": (1, "does not exist"),
        "list.yaml": (1, "must hold a mapping of sections"),
        "broken.yaml": (1, "is not valid YAML at line 2"),
        ".": (1, "is a directory"),
        "bad.yaml": (1, "'physics.drag' = nan"),
        "empty.yaml": (0, "valid (default)"),
        "partial.yaml": (0, "come from"),
    }
    for name, (status, words) in cases.items():
        done = _check_config(name, cwd=tmp_path)
        text = done.stdout + done.stderr
        assert done.returncode == status and words in text, (name, text)
        assert "Traceback" not in text, (name, text)
    partial = _check_config("partial.yaml", cwd=tmp_path).stdout
    assert "sample.sampling_steps" in partial and "sample.ensemble_size" not in partial


def test_a_file_that_sets_the_per_job_overrides_replaces_the_default_s():
    """Merged key by key as Snakemake does, but `train.overrides` whole: a study that sets it
    does not inherit the default study's overrides; one that leaves it out does."""
    default = {"train": {"models": ["flex"], "overrides": {"fc/uvit": {"learning_rate": 5e-5}}},
               "sample": {"ensemble_size": 8, "seed": 0}}  # fmt: skip
    study = {"train": {"overrides": {"sr/flex": {"learning_rate": 1e-4}}},
             "sample": {"ensemble_size": 4}}  # fmt: skip
    assert merged(default, study) == {
        "train": {"models": ["flex"], "overrides": {"sr/flex": {"learning_rate": 1e-4}}},
        "sample": {"ensemble_size": 4, "seed": 0}}  # fmt: skip
    assert merged(default, {"train": {"overrides": {}}})["train"]["overrides"] == {}
    assert merged(default, {"sample": {"seed": 1}})["train"] == default["train"]
    assert layered(default, study, {"sample": {"seed": 2}})["sample"] == {"ensemble_size": 4,
                                                                          "seed": 2}  # fmt: skip
