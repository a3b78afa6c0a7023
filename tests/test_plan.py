"""The study plan and the code digests, without Snakemake: which jobs a configuration implies,
what each job's parameters hold, and which sources each stage runs."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import shutil
import subprocess
import sys

import pytest

from flex import paths, sources
from flex.config import ConfigError
from flex.config.load import load_study
from flex.kinds import MODEL_KINDS, MULTITASK, TRIVIAL
from flex.plan import ENTRY_MODULES, StudyPlan
from tests.conftest import ROOT, SCHEMA, TINY, only_task, read_yaml

STAGE_PACKAGES = ("simulate", "coarsen", "statistics", "train", "sample", "evaluate", "summary",
                  "figures")  # fmt: skip
"""Packages that are stages: they may import libraries, never each other."""


def plan_of(raw: dict) -> StudyPlan:
    return StudyPlan(load_study(raw, SCHEMA))


@pytest.fixture
def raw() -> dict:
    return copy.deepcopy(read_yaml(TINY))


def params_by_job(plan: StudyPlan) -> dict[tuple, str]:
    return {(job.rule, tuple(sorted(job.wildcards.items()))): job.params
            for rule in ENTRY_MODULES for job in plan.jobs(rule)}  # fmt: skip


def changed_jobs(raw: dict, edit) -> dict[str, int]:
    """Per rule, the jobs that are new or whose parameters changed when `edit(raw)` is applied."""
    before = params_by_job(plan_of(raw))
    changed = copy.deepcopy(raw)
    edit(changed)
    after = params_by_job(plan_of(changed))
    counts: dict[str, int] = {}
    for key, params in after.items():
        if before.get(key) != params:
            counts[key[0]] = counts.get(key[0], 0) + 1
    return counts


def test_a_model_trained_on_walls_reads_the_wall_bounded_training_runs(raw):
    raw["train"]["models"] = ["flex", "flex_walls"]
    raw["held_out_boundary"]["reynolds_numbers"] = [60, 160]  # held out, training
    raw["train"]["overrides"] = {f"{task}/flex_walls": {"init_from": "flex"}
                                 for task in ("sr", "fc")}  # fmt: skip
    plan = plan_of(raw)
    runs = {(160, 11), (160, 12), (160, 13), (60, 13)}  # train, validation, test seeds; test
    assert {j.outputs[0] for j in plan.jobs("simulate_boundary")} == {
        f"results/simulate/channel/re{re}_seed{seed}.nc" for re, seed in runs}  # fmt: skip
    job = plan.job("train", {"task": "sr", "model": "flex_walls"})
    assert job.inputs["train_fine"] == ["results/simulate/channel/re160_seed11.nc"]
    assert job.inputs["validation_fine"] == ["results/simulate/channel/re160_seed12.nc"]
    assert job.inputs["validation_coarse"] == ["results/coarsen/channel/re160_seed12.nc"]
    assert job.inputs["init_model"] == "results/train/sr/flex/model.pt"
    assert job.job.boundaries == ("channel",) and job.job.train_reynolds_numbers == (160.0,)
    periodic = plan.job("train", {"task": "sr", "model": "flex"})
    assert periodic.job.boundaries == ("periodic",)
    assert not any("channel" in path for path in periodic.inputs["train_fine"])
    # sampled and scored as the others: in the periodic box and between walls
    for name in ("sr/flex_walls/re60_seed13", "fc/flex_walls/channel/re160_seed13"):
        assert plan.job("evaluate", {"name": name})
    # a study without a model trained on walls simulates no wall-bounded training run
    raw["train"]["models"], raw["train"]["overrides"] = ["flex"], {}
    assert {j.outputs[0] for j in plan_of(raw).jobs("simulate_boundary")} == {
        f"results/simulate/channel/re{re}_seed13.nc" for re in (60, 160)}  # fmt: skip


# -- the jobs of a study ---------------------------------------------------------------------


def test_the_tiny_plan_has_every_job_once(raw):
    plan = plan_of(raw)
    trajectories = 3 * 2 + 5  # train and validation at 3 training Re, test at 5 Re
    counts = {rule: len(plan.jobs(rule)) for rule in ENTRY_MODULES}
    main = 2 * (6 + 1) * 5  # tasks x (models + trivial) x test trajectories
    zero_shot = 2 * 5 * 2  # (flex, bicubic) x test trajectories x (u, v)
    steps = 2 * 2 * 2 * 5  # tasks x steps x etas x test trajectories (in and out of dist.)
    channel = 1  # held_out_boundary: channel at Re 60, one test seed
    walled = 2 * (6 + 1) * channel  # tasks x (models + trivial) x wall-bounded trajectories
    train = 2 * 5 + 1  # tasks x single-task models, and flex_mt once for both tasks
    assert counts == {"simulate": trajectories, "simulate_boundary": channel,
                      "coarsen": trajectories, "coarsen_boundary": channel,
                      "training_statistics": 1, "train": train,
                      "sample": main + zero_shot + steps + walled,
                      "evaluate": main + zero_shot + steps + walled, "summary": 1,
                      "figures": 1}  # fmt: skip


def test_every_input_is_an_output_of_another_job(raw):
    plan = plan_of(raw)
    produced = {path for rule in ENTRY_MODULES for job in plan.jobs(rule) for path in job.outputs}
    for rule in ENTRY_MODULES:
        for job in plan.jobs(rule):
            for value in job.inputs.values():
                for path in [value] if isinstance(value, str) else value:
                    assert path in produced, (rule, job.wildcards, path)
    assert set(plan.targets()) <= produced


def test_forecasting_reads_no_coarse_file_and_trivial_baselines_no_statistics(raw):
    plan = plan_of(raw)
    for job in plan.jobs("train") + plan.jobs("sample"):
        files = [f for v in job.inputs.values() for f in ([v] if isinstance(v, str) else v)]
        if job.wildcards.get("task") == "fc" or job.wildcards.get("name", "").startswith("fc/"):
            assert not any(f.startswith("results/coarsen/re") for f in files), job.wildcards
        if job.rule == "sample":
            assert paths.STATISTICS not in files  # a model's normalisation is in its checkpoint
            assert ("model" in job.inputs) == (job.job.model not in TRIVIAL.values())


def test_a_study_without_super_resolution_coarsens_nothing(raw):
    plan = plan_of(only_task(raw, "fc"))
    assert plan.jobs("coarsen") == []
    assert not any(name.endswith("_sr") or name == "fig8_velocity_zero_shot"
                   for name in plan.figures())  # fmt: skip


def test_the_multitask_model_trains_once_and_is_sampled_per_task(raw):
    """flex_mt: one training job (task label "mt") on the inputs of both tasks, at each task's
    patch; every task's sample jobs read its one model file, under its own name."""
    raw["data"]["patch_size"] = {"sr": 32, "fc": 16}
    plan = plan_of(raw)
    (train,) = [j for j in plan.jobs("train") if j.job.model == "flex_mt"]
    assert train.wildcards == {"task": MULTITASK, "model": "flex_mt"}
    assert (train.job.tasks, train.job.patch_sizes) == (("sr", "fc"), (32, 16))
    assert train.outputs[0] == "results/train/mt/flex_mt/model.pt"
    sr_flex = plan.job("train", {"task": "sr", "model": "flex"})
    assert train.inputs == sr_flex.inputs  # the fine and the coarse files
    samples = [j for j in plan.jobs("sample") if j.job.model == "flex_mt"]
    assert {j.job.task for j in samples} == {"sr", "fc"}
    assert {j.inputs["model"] for j in samples} == {train.outputs[0]}
    assert all(j.wildcards["name"].startswith(f"{j.job.task}/flex_mt/") for j in samples)
    assert train.outputs[0] in plan.targets()


def test_an_override_of_the_multitask_model_reruns_its_job_and_its_samples_only(raw):
    counts = changed_jobs(raw, lambda c: c["train"]["overrides"].update(
        {"mt/flex_mt": {"learning_rate": 1.0e-4}}))  # fmt: skip
    assert counts == {"train": 1}  # its samples rerun through the model file (an input)
    with pytest.raises(
        ConfigError, match=r"'train.overrides' has the key 'sr/flex_mt'.*mt/flex_mt"
    ):
        raw["train"]["overrides"] = {"sr/flex_mt": {"learning_rate": 1.0e-4}}
        plan_of(raw)


def test_a_multitask_model_needs_two_tasks(raw):
    raw["train"]["tasks"] = ["sr"]
    expected = "'train.models' has 'flex_mt', which learns several tasks at once, but 'train.tasks'"
    with pytest.raises(ConfigError, match=re.escape(f"{expected} = ['sr']")):
        plan_of(raw)


def test_models_not_in_the_config_are_neither_trained_nor_drawn(raw):
    raw["train"]["models"] = ["unet"]
    plan = plan_of(raw)
    assert {job.wildcards["model"] for job in plan.jobs("train")} == {"unet"}
    assert {job.job.model for job in plan.jobs("sample")} == {"unet", *TRIVIAL.values()}
    figures = plan.jobs("figures")[0]
    assert figures.job.main_model == "unet"
    assert "fig6_sampling_steps" not in plan.figures()  # the steps study is FLEX's
    assert "fig11_calibration_study" not in plan.figures()
    assert "fig7_residual_vs_raw" not in plan.figures()  # needs flex and flex_raw


# -- what each job's parameters hold ----------------------------------------------------------


def test_execution_settings_change_no_parameters(raw):
    def edit(config):
        config["execution"] = {
            "environments": {"sim": "envs/sim-cuda.yaml", "torch": "envs/torch-cuda.yaml",
                             "analysis": "envs/analysis.yaml"},
            "simulate": {"device": "cpu", "snapshots_per_chunk": 3}, "coarsen": {"snapshots_per_chunk": 1},
            "train": {"device": "cpu", "num_workers": 2, "compile": True, "checkpoint_every": 7},
            "sample": {"device": "cpu", "batch_size": 1}, "evaluate": {"samples_per_chunk": 5},
        }  # fmt: skip

    assert changed_jobs(raw, edit) == {}


def test_a_new_steps_study_value_adds_its_jobs_and_changes_no_other(raw):
    counts = changed_jobs(raw, lambda c: c["sample"]["steps_study"].append(4))
    # 2 tasks x 2 samplers (eta) x 5 test trajectories, sampled and evaluated; the figures' job
    # lists its figures and inputs, which do not change (the steps study is read from the summary)
    assert counts == {"sample": 20, "evaluate": 20}


def test_the_steps_study_runs_each_sampler_and_a_crps_model_at_its_training_steps(raw):
    raw["train"]["models"] = ["flex", "flex_crps", "unet"]
    raw["train"]["defaults"]["crps_steps"] = 3
    raw["sample"]["eta"] = 0.5  # the main study's sampler: not the steps study's
    plan = plan_of(raw)
    studied = {(job.job.task, job.job.model, job.job.ensemble.sampling_steps,
                job.job.ensemble.eta, job.job.reynolds_number): job.wildcards["name"]
               for job in plan.jobs("sample") if job.job.study == "steps"}  # fmt: skip
    tests = sorted({*raw["reynolds_numbers"]["train"], *raw["reynolds_numbers"]["held_out"]})
    expected = {(task, "flex", steps, eta, re) for task in ("sr", "fc") for steps in (1, 2)
                for eta in (0.0, 1.0) for re in tests}  # fmt: skip
    expected |= {(task, "flex_crps", 3, 0.0, re) for task in ("sr", "fc") for re in tests}
    assert set(studied) == expected
    assert studied[("sr", "flex", 2, 1.0, 60)] == "sr/flex/steps2_eta1/re60_seed13"
    assert studied[("sr", "flex", 2, 0.0, 60)] == "sr/flex/steps2/re60_seed13"
    assert studied[("fc", "flex_crps", 3, 0.0, 240)] == "fc/flex_crps/steps3/re240_seed13"
    assert {"fig6_sampling_steps", "fig11_calibration_study"} <= set(plan.figures())
    figures = plan.jobs("figures")[0]
    assert {"results/tables/calibration.csv", "results/tables/calibration.md"} <= set(
        figures.outputs)  # fmt: skip
    raw["sample"]["steps_study_etas"] = [1.0]  # no deterministic DDIM: nothing for figure 6
    figures = set(plan_of(raw).figures())
    assert "fig11_calibration_study" in figures and "fig6_sampling_steps" not in figures
    raw["sample"]["steps_study"] = []
    assert not {"fig6_sampling_steps", "fig11_calibration_study"} & set(plan_of(raw).figures())


def test_a_fine_tuned_job_reads_the_model_it_starts_from(raw):
    raw["train"]["models"] = ["flex", "flex_crps", "unet"]
    raw["train"]["overrides"] = {"sr/flex_crps": {"init_from": "flex", "learning_rate": 1e-4}}
    plan = plan_of(raw)
    job = plan.job("train", {"task": "sr", "model": "flex_crps"})
    assert job.inputs["init_model"] == "results/train/sr/flex/model.pt"
    assert json.loads(job.params)["settings"]["init_from"] == "flex"
    others = [j for j in plan.jobs("train") if j is not job]
    assert all("init_model" not in j.inputs and j.job.settings.init_from is None for j in others)
    # the fine-tuning is this job's only: the other jobs keep their parameters
    counts = changed_jobs(raw, lambda c: c["train"].update(overrides={}))
    assert counts == {"train": 1}


def test_the_ensemble_size_is_a_parameter_of_diffusion_models_only(raw):
    counts = changed_jobs(raw, lambda c: c["sample"].update(ensemble_size=5))
    diffusion = [m for m in raw["train"]["models"] if MODEL_KINDS[m].diffusion]
    main = 2 * len(diffusion) * 5
    walled = 2 * len(diffusion) * 1  # the wall-bounded test trajectory
    assert counts == {"sample": main + 1 * 5 * 2 + 2 * 2 * 2 * 5 + walled}  # + zero-shot + steps


def test_the_forecast_horizon_is_not_a_parameter_of_super_resolution(raw):
    counts = changed_jobs(raw, lambda c: c["sample"].update(horizon=3))
    # fc main and wall-bounded jobs only (the steps study has its own)
    assert counts == {"sample": (len(raw["train"]["models"]) + 1) * (5 + 1)}


def test_job_parameters_are_json_of_the_job(raw):
    plan = plan_of(raw)
    job = plan.job("train", {"task": "fc", "model": "unet"})
    params = json.loads(job.params)
    assert params["task"] == "fc" and params["tasks"] == ["fc"]
    assert params["patch_sizes"] == [raw["data"]["patch_size"]]
    assert "num_workers" not in json.dumps(params) and "evaluation_snapshot_stride" not in params
    with pytest.raises(KeyError, match="rule train has no job with task=fc, model=gan"):
        plan.job("train", {"task": "fc", "model": "gan"})


def test_execution_settings_reach_the_command_as_json(raw):
    plan = plan_of(raw)
    assert json.loads(plan.execution("train")) == raw["execution"]["train"]
    assert json.loads(plan.execution("training_statistics")) == raw["execution"]["coarsen"]
    assert plan.execution("figures") == "{}"


# -- the sources of each stage ----------------------------------------------------------------


@pytest.mark.parametrize("rule", list(ENTRY_MODULES))
def test_a_stage_imports_no_other_stage(rule):
    own = ENTRY_MODULES[rule].split(".")[1]
    found = {name.split(".")[1] for name in sources.sources(ENTRY_MODULES[rule]) if "." in name}
    assert found & set(STAGE_PACKAGES) == {own}, found


def test_training_runs_the_ensemble_prediction_and_the_model_file_code():
    found = sources.sources(ENTRY_MODULES["train"])
    assert {"flex.diffusion.predict", "flex.models.checkpoint", "flex.data.examples"} <= set(found)
    assert "flex.plan" not in found and "flex.config.checks" not in found


@pytest.mark.parametrize("rule", ["simulate", "train", "sample", "evaluate", "figures"])
def test_the_static_sources_contain_every_module_the_stage_really_imports(rule):
    """An independent check: import the entry module and its run module in a fresh interpreter
    and list the flex modules that Python loaded; the static closure holds all of them."""
    entry = ENTRY_MODULES[rule]
    run = entry.replace("__main__", "run")
    code = (f"import importlib, sys; importlib.import_module({entry!r}); "
            f"importlib.import_module({run!r}); "
            "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] == 'flex')))")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=ROOT)  # fmt: skip
    loaded = set(done.stdout.split())
    assert loaded and loaded <= set(sources.sources(entry)), loaded - set(sources.sources(entry))


def test_an_edit_changes_the_digest_of_the_stages_that_import_it_only(tmp_path):
    root = tmp_path / "flex"
    shutil.copytree(sources.ROOT, root, ignore=shutil.ignore_patterns("__pycache__"))
    before = {rule: sources.digest(entry, root) for rule, entry in ENTRY_MODULES.items()}
    assert before == {rule: sources.digest(entry) for rule, entry in ENTRY_MODULES.items()}
    edited = root / "evaluate" / "errors.py"
    original = edited.read_text()
    layout = original.replace('"""', "'''").replace("\n\n", "\n\n\n") + "\n# a comment\n"
    edited.write_text(layout)  # comments, docstrings and layout rerun nothing
    assert {rule: sources.digest(entry, root) for rule, entry in ENTRY_MODULES.items()} == before
    edited.write_text(original + "\nEDITED = True\n")
    after = {rule: sources.digest(entry, root) for rule, entry in ENTRY_MODULES.items()}
    assert {rule for rule in before if before[rule] != after[rule]} == {"evaluate"}
    (root / "unused_module.py").write_text("X = 1\n")  # imported by no stage
    assert {rule: sources.digest(entry, root) for rule, entry in ENTRY_MODULES.items()} == after


def test_relative_and_function_level_imports_are_followed(tmp_path):
    root = tmp_path / "flex"
    (root / "stage").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "lib.py").write_text("from . import deep\n")
    (root / "deep.py").write_text("")
    (root / "stage" / "__init__.py").write_text("")
    (root / "stage" / "__main__.py").write_text("def main():\n    from ..lib import name\n")
    found = sources.sources("flex.stage.__main__", root)
    assert set(found) == {"flex", "flex.stage", "flex.stage.__main__", "flex.lib", "flex.deep"}


def test_the_plan_is_the_one_list_of_entry_modules():
    for entry in ENTRY_MODULES.values():
        assert sources.module_file(entry) is not None, entry
    stages = {p.parent.name for p in sources.ROOT.glob("*/__main__.py")}
    assert stages == {entry.split(".")[1] for entry in ENTRY_MODULES.values()}
    assert dataclasses.is_dataclass(plan_of(read_yaml(TINY)).jobs("figures")[0].job)


def test_only_a_crps_trained_model_reads_the_crps_settings(raw):
    """flex_crps's job parameters hold crps_members and crps_steps; the other models' hold None,
    so that changing them reruns flex_crps alone."""
    raw["train"]["models"] = ["flex", "flex_crps"]
    plan = plan_of(raw)
    for job in plan.jobs("train"):
        settings = job.job.settings
        crps = (settings.crps_members, settings.crps_steps)
        expected = (2, 2) if job.wildcards["model"] == "flex_crps" else (None, None)
        assert crps == expected, job.wildcards
    raw["train"]["defaults"]["crps_members"] = 4
    changed = {job.wildcards["model"] for job in plan_of(raw).jobs("train")
               if job.params != plan.job("train", job.wildcards).params}  # fmt: skip
    assert changed == {"flex_crps"}


def test_held_out_boundary_trajectories_are_test_seeds_at_the_given_reynolds_numbers(raw):
    raw = copy.deepcopy(raw)
    raw["seeds"]["test"] = [13, 23]
    raw["held_out_boundary"]["reynolds_numbers"] = [40, 240]
    plan = plan_of(raw)
    jobs = plan.jobs("simulate_boundary")
    assert sorted(job.outputs[0] for job in jobs) == [
        f"results/simulate/channel/re{re}_seed{seed}.nc" for re in (240, 40) for seed in (13, 23)
    ]
    assert {(j.job.boundary, j.job.boundary_time_stepper) for j in jobs} == {
        ("channel", "classic_rk4")
    }
    periodic = {j.job.boundary for j in plan.jobs("simulate")}
    assert periodic == {"periodic"}
    walled = [j for j in plan.jobs("sample") if j.job.boundary == "channel"]
    # trajectories x tasks x (models + trivial)
    assert len(walled) == 4 * 2 * (len(raw["train"]["models"]) + 1)
    assert {(j.job.study, j.job.split) for j in walled} == {("boundary", "held_out_boundary")}
    assert {j.job.held_out for j in walled} == {False, True}  # Re 40 trains, 240 is held out
    sr = next(j for j in walled if j.job.task == "sr" and j.job.model == "flex")
    assert sr.inputs["fine"].startswith("results/simulate/channel/")
    assert sr.inputs["coarse"].startswith("results/coarsen/channel/")
    assert sr.outputs[0].startswith("results/sample/sr/flex/channel/")
    figures = plan.job("figures", {})
    assert "fig10_held_out_boundary" in figures.job.figures
    assert {paths.evaluation_file(j.wildcards["name"]) for j in walled} <= set(
        figures.inputs["evaluations"]
    )
    raw["held_out_boundary"]["boundaries"] = []
    plan = plan_of(raw)
    assert plan.jobs("simulate_boundary") == plan.jobs("coarsen_boundary") == []
    assert "fig10_held_out_boundary" not in plan.figures()


def test_validation_and_test_trajectories_save_the_evaluation_count_of_snapshots(raw):
    """`simulate.evaluation_num_snapshots` shortens the validation and test trajectories (periodic
    and between walls) only; each job holds its own count and none holds the other setting, and
    the predicted sizes of the files follow."""
    from flex.footprint import sample_count

    raw["simulate"]["evaluation_num_snapshots"] = 8
    plan = plan_of(raw)
    seeds = raw["seeds"]
    counts = {int(j.wildcards["seed"]): set() for j in plan.jobs("simulate")}
    for job in [*plan.jobs("simulate"), *plan.jobs("simulate_boundary")]:
        counts.setdefault(int(job.wildcards["seed"]), set()).add(job.job.simulate.num_snapshots)
        assert job.job.simulate.evaluation_num_snapshots is None
        assert json.loads(job.params)["simulate"]["evaluation_num_snapshots"] is None
    assert counts == {seeds["train"][0]: {12}, seeds["validation"][0]: {8}, seeds["test"][0]: {8}}
    assert plan.jobs("simulate_boundary")
    # every patch of a test trajectory: an sr sample's snapshots 0, 3, 6 of 8 (stride 3) against
    # 0, 3, 6, 9 of 12, four 32^2 tiles of the 64^2 grid each
    raw["sample"]["max_samples"] = None
    for count, patches in ((8, 12), (None, 16)):
        raw["simulate"]["evaluation_num_snapshots"] = count
        plan = plan_of(raw)
        sample = next(j.job for j in plan.jobs("sample") if j.job.task == "sr"
                      and j.job.model == "flex" and j.job.study == "main")  # fmt: skip
        assert sample_count(sample, plan.study) == patches
    # the training trajectories' jobs are those of a study without the setting
    unchanged = changed_jobs(raw, lambda c: c["simulate"].update(evaluation_num_snapshots=12))
    assert unchanged == {}
    changed = changed_jobs(raw, lambda c: c["simulate"].update(evaluation_num_snapshots=8))
    assert changed["simulate"] == 8 and changed["simulate_boundary"] == 1
