"""Configuration: every shipped study validates; each forbidden value fails naming key and value."""

from __future__ import annotations

import pytest

from flex.config import ConfigError, load_study, load_study_file
from tests.conftest import ROOT, SCHEMA


@pytest.mark.parametrize(
    "name", ["config/config.yaml", "config/paper.yaml", "tests/config/tiny.yaml"]
)
def test_shipped_configs_are_valid(name):
    study = load_study_file(ROOT / name, SCHEMA)
    assert study.simulate.grid_size % study.coarsen.coarsen_factor == 0
    assert len(study.reynolds_numbers.train) >= 3 and len(study.reynolds_numbers.held_out) >= 2


def test_default_study_has_a_held_out_reynolds_number_inside_and_outside_the_training_range():
    study = load_study_file(ROOT / "config/config.yaml", SCHEMA)
    low, high = min(study.reynolds_numbers.train), max(study.reynolds_numbers.train)
    held_out = study.reynolds_numbers.held_out
    assert any(low < re < high for re in held_out)
    assert any(re < low or re > high for re in held_out)


def test_paper_study_matches_the_paper():
    study = load_study_file(ROOT / "config/paper.yaml", SCHEMA)
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
