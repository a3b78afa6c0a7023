"""The Snakemake workflow: whole-DAG dry runs, the Slurm profile, config errors, a real tiny run.

Each test runs `snakemake` in a scratch directory that links the repository's workflow files, so
that results/ and logs/ of the tests never mix with a user's.
"""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

from flex.config.load import layered, load_study
from flex.kinds import MODEL_KINDS, training_task
from flex.plan import StudyPlan
from tests.conftest import LINKED, ROOT, SCHEMA, TINY, link_workflow, read_yaml, snakemake


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return link_workflow(tmp_path)


PLAN_RULE = {"sample_trivial": "sample"}
"""Workflow rules that run some of the jobs of a rule of the study plan (the trivial baselines'
sample jobs, on the CPU: workflow/rules/sample.smk)."""


def job_counts(output: str, by_plan_rule: bool = True) -> dict[str, int]:
    """The 'Job stats' table of a dry run: {rule: count}, by rule of the study plan unless
    `by_plan_rule` is false (then by the workflow's own rules)."""
    table = output.split("Job stats:")[1].split("\n\n")[0]
    counts: dict[str, int] = {}
    for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE):
        rule = PLAN_RULE.get(m[1], m[1]) if by_plan_rule else m[1]
        counts[rule] = counts.get(rule, 0) + int(m[2])
    counts.pop("total", None)
    return counts


DEFAULT = ROOT / "config/config.yaml"
"""The default study, the base of the overlays in config/."""


def overlay_job_counts(workdir: Path, overlay: Path) -> tuple[dict[str, int], dict[str, int]]:
    """Dry-run job counts of the default study without and with `overlay` given after it."""
    dry = ("-n", "--cores", "2", "--configfile", str(DEFAULT))
    plain = job_counts(snakemake(workdir, *dry).stdout)
    return plain, job_counts(snakemake(workdir, *dry, str(overlay)).stdout)


def expected_trajectories(config: dict) -> int:
    reynolds, seeds = config["reynolds_numbers"], config["seeds"]
    train_runs = len(reynolds["train"]) * (len(seeds["train"]) + len(seeds["validation"]))
    return train_runs + (len(reynolds["train"]) + len(reynolds["held_out"])) * len(seeds["test"])


@pytest.mark.parametrize(
    "config", ["config/config.yaml", "config/paper.yaml", "tests/config/tiny.yaml"]
)
def test_dry_run_of_the_whole_dag(workdir, config):
    done = snakemake(workdir, "-n", "--cores", "2", "--configfile", str(ROOT / config))
    counts = job_counts(done.stdout + done.stderr)
    study = read_yaml(ROOT / config)
    assert counts["simulate"] == counts["coarsen"] == expected_trajectories(study)
    assert counts["train"] == _training_jobs(study)
    assert counts["training_statistics"] == 1
    by_rule = job_counts(done.stdout + done.stderr, by_plan_rule=False)
    trivial = len(study["train"]["tasks"]) + len(study["sample"]["zero_shot_variables"])
    walled = len(study["train"]["tasks"]) * _walled_trajectories(study)
    assert by_rule["sample_trivial"] == trivial * _test_trajectories(study) + walled  # no GPU
    assert counts.get("simulate_boundary", 0) == _walled_trajectories(study)
    assert not (workdir / "results").exists()


def test_the_cuda_overlay_selects_existing_environments_and_a_missing_one_is_named(workdir):
    """config/cuda.yaml over a study's config: the CUDA environment files, which exist; a file
    that does not exist stops the workflow before any job, naming the key and the value."""
    overlay = read_yaml(ROOT / "config/cuda.yaml")["execution"]["environments"]
    assert overlay == {"sim": "envs/sim-cuda.yaml", "torch": "envs/torch-cuda.yaml"}
    done = snakemake(workdir, "-n", "--cores", "2", "--configfile", str(ROOT / "config/paper.yaml"),
                     str(ROOT / "config/cuda.yaml"))  # fmt: skip
    assert "Job stats:" in done.stdout + done.stderr
    for relative in overlay.values():
        text = (ROOT / relative).read_text()
        assert "torch==2.13.0" in text or "jax[cuda12]==0.10.2" in text
    (workdir / "missing.yaml").write_text(
        yaml.safe_dump({"execution": {"environments": {"torch": "envs/torch-rocm.yaml"}}})
    )
    done = snakemake(workdir, "-n", "--cores", "2", "--configfile", str(TINY), "missing.yaml",
                     check=False)  # fmt: skip
    assert done.returncode != 0
    assert "'execution.environments.torch' = 'envs/torch-rocm.yaml': no such file" in done.stderr


def test_the_samplers_overlay_adds_ancestral_ddim_to_the_steps_study_only(workdir):
    """config/samplers.yaml over the default study: one more sampler in the steps study, i.e.
    tasks x steps x test trajectories more sample and evaluate jobs, and nothing else more."""
    samplers = ROOT / "config/samplers.yaml"
    plain, both = overlay_job_counts(workdir, samplers)
    study, overlay = read_yaml(DEFAULT), read_yaml(samplers)
    overlay_etas = overlay["sample"]["steps_study_etas"]
    added_etas = len(overlay_etas) - len(study["sample"]["steps_study_etas"])
    added = (added_etas * len(study["train"]["tasks"]) * len(study["sample"]["steps_study"])
             * _test_trajectories(study))  # fmt: skip
    assert added > 0
    assert both.pop("sample") - plain.pop("sample") == added
    assert both.pop("evaluate") - plain.pop("evaluate") == added
    assert both == plain


def test_the_walls_overlay_adds_the_wall_bounded_runs_and_the_fine_tuned_flex(workdir):
    """config/walls.yaml over the default study: the wall-bounded runs (train, validation and
    test seeds at its training Re, the test seed at the others), two fine-tuning jobs per task
    that start from that task's FLEX (on the walls, and its control in the box), and the
    periodic jobs as they were."""
    walls = ROOT / "config/walls.yaml"
    plain, both = overlay_job_counts(workdir, walls)
    study, overlay = read_yaml(DEFAULT), read_yaml(walls)["held_out_boundary"]
    training = [
        re for re in overlay["reynolds_numbers"] if re in study["reynolds_numbers"]["train"]
    ]
    assert training
    walled = len(overlay["reynolds_numbers"]) * len(study["seeds"]["test"]) + len(training) * (
        len(study["seeds"]["train"]) + len(study["seeds"]["validation"]))  # fmt: skip
    assert both["simulate_boundary"] == both["coarsen_boundary"] == walled
    assert both["train"] - plain["train"] == 2 * len(study["train"]["tasks"])
    assert both["simulate"] == plain["simulate"] and both["coarsen"] == plain["coarsen"]
    plan = StudyPlan(load_study(layered(study, read_yaml(walls)), SCHEMA))
    for task in study["train"]["tasks"]:
        job = plan.job("train", {"task": task, "model": "flex_walls"})
        assert job.inputs["init_model"] == f"results/train/{task}/flex/model.pt"
        assert all("/channel/" in path for path in job.inputs["train_fine"])
        control = plan.job("train", {"task": task, "model": "flex_continued"})
        assert control.inputs["init_model"] == job.inputs["init_model"]
        assert control.inputs["train_fine"] == plan.job("train", {"task": task, "model": "flex"}
                                                        ).inputs["train_fine"]  # fmt: skip


def test_the_crps_overlay_adds_flex_crps_fine_tuned_from_flex_to_the_calibration_study(workdir):
    """config/crps.yaml over the default study: one training job per task that starts from that
    task's FLEX; its samples on every test trajectory at the study's steps and in the steps study
    at the steps it was trained through only; nothing else more."""
    crps = ROOT / "config/crps.yaml"
    plain, both = overlay_job_counts(workdir, crps)
    study = read_yaml(DEFAULT)
    tasks = study["train"]["tasks"]
    assert study["train"]["defaults"]["crps_steps"] in study["sample"]["steps_study"]
    # main samples + steps study at its steps, and the main samples between walls
    added = len(tasks) * (2 * _test_trajectories(study) + _walled_trajectories(study))
    assert both.pop("train") - plain.pop("train") == len(tasks)
    assert both.pop("sample") - plain.pop("sample") == added
    assert both.pop("evaluate") - plain.pop("evaluate") == added
    assert both == plain
    plan = StudyPlan(load_study(layered(study, read_yaml(crps)), SCHEMA))
    for task in tasks:
        job = plan.job("train", {"task": task, "model": "flex_crps"})
        assert job.inputs["init_model"] == f"results/train/{task}/flex/model.pt"


def test_slurm_profile_dry_run_gives_gpu_rules_a_gpu(workdir):
    done = snakemake(workdir, "-n", "--cores", "all", "--profile", "slurm")
    text = done.stdout + done.stderr
    assert "rule simulate:" in text
    simulate_resources = re.findall(r"rule simulate:.*?resources: ([^\n]+)", text, re.DOTALL)
    assert simulate_resources and all(
        "gpu=1" in r and "cpus_per_gpu=4" in r and "cpus_per_task" not in r
        for r in simulate_resources
    )
    profile = read_yaml(ROOT / "profiles/slurm/config.yaml")
    assert profile["executor"] == "slurm"
    assert (workdir / "slurm").resolve() == (ROOT / "profiles/slurm").resolve()


@pytest.mark.parametrize(
    ("section", "key", "value", "line"),
    [
        ("reynolds_numbers", "held_out", [80, -5], "'reynolds_numbers.held_out[1]' = -5"),
        ("simulate", "time_step", 0.5, "'simulate.time_step' = 0.5 is longer than"),
    ],
)
def test_bad_config_stops_before_any_job_and_writes_nothing(workdir, section, key, value, line):
    """The workflow and `flex check-config` refuse it with the same line: one implementation."""
    bad = read_yaml(TINY)
    bad[section][key] = value
    (workdir / "bad.yaml").write_text(yaml.safe_dump(bad))
    done = snakemake(workdir, "--cores", "1", "--configfile", "bad.yaml", check=False)
    assert done.returncode != 0
    text = done.stdout + done.stderr
    assert line in text and "Traceback" not in text
    assert not (workdir / "results").exists() and not (workdir / "logs").exists()
    checked = subprocess.run(["flex", "check-config", "bad.yaml"], cwd=workdir,
                             capture_output=True, text=True)  # fmt: skip
    assert checked.returncode == 1
    ours = [row for row in checked.stderr.splitlines() if line in row]
    assert len(ours) == 1 and ours[0] in text


def test_check_config_command(workdir):
    ok = subprocess.run(["flex", "check-config", "config/config.yaml"], cwd=workdir,
                        capture_output=True, text=True)  # fmt: skip
    assert ok.returncode == 0 and "valid" in ok.stdout
    (workdir / "bad.yaml").write_text("study: {name: x}\nphysics: {drag: -1}\n")
    bad = subprocess.run(["flex", "check-config", "bad.yaml"], cwd=workdir, capture_output=True,
                         text=True)  # fmt: skip
    assert bad.returncode == 1 and "'physics.drag' = -1 is not allowed" in bad.stderr


def test_the_tiny_study_runs_every_stage_and_leaves_logs(tiny_results):
    config = read_yaml(TINY)
    simulated = sorted((tiny_results / "results/simulate").glob("*.nc"))
    coarse = sorted((tiny_results / "results/coarsen").glob("re*.nc"))
    assert len(simulated) == len(coarse) == expected_trajectories(config)
    with xr.open_dataset(tiny_results / "results/simulate/re40_seed11.nc") as ds:
        assert ds.vorticity.dims == ("time", "y", "x")
        assert ds.attrs["reynolds_number"] == 40.0 and ds.attrs["seed"] == 11
    with xr.open_dataset(tiny_results / "results/coarsen/re40_seed11.nc") as ds:
        assert (
            ds.sizes["y"] == config["simulate"]["grid_size"] // config["coarsen"]["coarsen_factor"]
        )
    assert (tiny_results / "results/coarsen/training_statistics.nc").exists()
    log = (tiny_results / "logs/simulate/re40_seed11.log").read_text()
    assert "step/s" in log and "wrote results/simulate/re40_seed11.nc" in log
    assert (tiny_results / "benchmarks/simulate/re40_seed11.tsv").exists()
    assert (tiny_results / "logs/coarsen/re40_seed11.log").exists()
    for task in config["train"]["tasks"]:
        for model in config["train"]["models"]:
            label = training_task(task, model)  # "mt" for the multi-task model
            folder = tiny_results / "results/train" / label / model
            assert {"model.pt", "history.csv", "job.json"} <= {p.name for p in folder.iterdir()}
            log = (tiny_results / f"logs/train/{label}_{model}.log").read_text()
            assert "step/s" in log
            assert "Warning:" not in log, log  # e.g. a number taken from a tensor in the graph


def _dry_run_counts(workdir: Path, config: dict) -> dict[str, int]:
    (workdir / "changed.yaml").write_text(yaml.safe_dump(config))
    done = snakemake(workdir, "-n", "--cores", "2", "--configfile", "changed.yaml")
    text = done.stdout + done.stderr
    return {} if "Nothing to be done" in text else job_counts(text)


def test_unchanged_or_touched_inputs_rerun_nothing(tiny_results):
    assert _dry_run_counts(tiny_results, read_yaml(TINY)) == {}
    (tiny_results / "results/simulate/re40_seed11.nc").touch()
    (tiny_results / "results/simulate/re80_seed12.nc").touch()
    assert _dry_run_counts(tiny_results, read_yaml(TINY)) == {}


def _test_trajectories(config: dict) -> int:
    reynolds = config["reynolds_numbers"]
    return (len(reynolds["train"]) + len(reynolds["held_out"])) * len(config["seeds"]["test"])


def _walled_trajectories(config: dict) -> int:
    held_out = config["held_out_boundary"]
    boundaries, reynolds = held_out["boundaries"], held_out["reynolds_numbers"]
    return len(boundaries) * len(reynolds) * len(config["seeds"]["test"])


def _training_jobs(config: dict) -> int:
    """One per task and single-task model, one per multi-task model."""
    models, tasks = config["train"]["models"], config["train"]["tasks"]
    multitask = sum(MODEL_KINDS[m].multitask for m in models)
    return len(tasks) * (len(models) - multitask) + multitask


def _all_sampling_jobs(config: dict) -> int:
    tasks, models, sample = config["train"]["tasks"], config["train"]["models"], config["sample"]
    tests = _test_trajectories(config)
    main = len(tasks) * (len(models) + 1) * tests
    zero_shot = 2 * len(sample["zero_shot_variables"]) * tests  # flex and bicubic
    steps = len(tasks) * len(sample["steps_study"]) * len(sample["steps_study_etas"]) * tests
    held_out = config["held_out_boundary"]
    walled = (
        len(held_out["boundaries"])
        * len(held_out["reynolds_numbers"])
        * len(config["seeds"]["test"])
    )
    return main + zero_shot + steps + len(tasks) * (len(models) + 1) * walled


def test_the_tiny_study_has_every_sample_and_evaluation_file(tiny_results):
    config = read_yaml(TINY)
    samples = list((tiny_results / "results/sample").rglob("*.nc"))
    evaluations = list((tiny_results / "results/evaluate").rglob("re*.nc"))
    assert len(samples) == len(evaluations) == _all_sampling_jobs(config)
    summary = (tiny_results / "results/evaluate/summary.csv").read_text().splitlines()
    header = summary[0].split(",")
    assert header[:5] == ["task", "model", "variable", "reynolds_number", "split"]
    assert {"sampling_steps", "ensemble_size", "rfne", "crps", "spread_skill_ratio"} <= set(header)


def test_the_held_out_boundary_is_simulated_sampled_and_scored_apart(tiny_results):
    """The tiny study's channel trajectory (Re 60): simulated between walls, coarse-grained,
    sampled by every model and baseline of both tasks, scored with split held_out_boundary and
    by region, kept out of the main figures and tables, and drawn in figure 10."""
    config = read_yaml(TINY)
    with xr.open_dataset(tiny_results / "results/simulate/channel/re60_seed13.nc") as ds:
        assert ds.attrs["boundary"] == "channel" and ds.attrs["solver"] == "finite_volume"
    with xr.open_dataset(tiny_results / "results/coarsen/channel/re60_seed13.nc") as ds:
        assert ds.attrs["boundary"] == "channel"
    grid, patch = config["simulate"]["grid_size"], config["data"]["patch_size"]
    for task in config["train"]["tasks"]:
        for model in [*config["train"]["models"], {"sr": "bicubic", "fc": "persistence"}[task]]:
            name = f"{task}/{model}/channel/re60_seed13.nc"
            with xr.open_dataset(tiny_results / "results/sample" / name) as ds:
                assert ds.attrs["split"] == "held_out_boundary" and ds.attrs["study"] == "boundary"
                corner = ds.corner_y.values
                np.testing.assert_array_equal(ds.touches_wall.values,
                                              (corner == 0) | (corner + patch >= grid))  # fmt: skip
            with xr.open_dataset(tiny_results / "results/evaluate" / name) as ds:
                assert "energy_spectrum_target_wall" in ds  # every tiny patch reaches a wall
                assert "energy_spectrum_target_interior" not in ds
    summary = xr.open_dataset(tiny_results / "results/evaluate/summary.nc").load()
    walled = summary.where(summary.study == "boundary", drop=True)
    assert set(walled.split.values) == {"held_out_boundary", "held_out_boundary_wall"}
    assert set(walled.model.values) == {*config["train"]["models"], "bicubic", "persistence"}
    for split in ("held_out_boundary", "held_out_boundary_wall"):  # all patches touch a wall
        part = walled.where(walled.split == split, drop=True).sortby(["task", "model", "lead"])
        np.testing.assert_allclose(part.rfne.values, walled.where(
            walled.split == "held_out_boundary", drop=True).sortby(["task", "model", "lead"])
            .rfne.values)  # fmt: skip
    for task in config["train"]["tasks"]:  # the main tables never mix in the walls
        assert (
            "held_out_boundary" not in (tiny_results / "results/tables" / f"{task}.md").read_text()
        )


def test_figures_tables_and_the_report(tiny_results):
    from flex.config.load import load_study
    from flex.figures import catalogue
    from flex.plan import StudyPlan
    from tests.conftest import SCHEMA

    config = read_yaml(TINY)
    figures = StudyPlan(load_study(config, SCHEMA)).figures()
    every = [f"{name}_{task}" for name in catalogue.PER_TASK for task in config["train"]["tasks"]]
    assert sorted(figures) == sorted(every + list(catalogue.STUDY_WIDE))  # the tiny study has all
    for name in figures:
        for suffix in (".png", ".pdf"):
            assert (tiny_results / "results/figures" / f"{name}{suffix}").stat().st_size > 1000
        assert (ROOT / "workflow/report" / f"{name}.rst").exists()  # its caption
    for task in config["train"]["tasks"]:
        markdown = (tiny_results / "results/tables" / f"{task}.md").read_text()
        assert "| flex | in_distribution |" in markdown and "| flex | held_out |" in markdown
        assert (
            (tiny_results / "results/tables" / f"{task}.tex")
            .read_text()
            .startswith("\\begin{table}")
        )
    claims = (tiny_results / "results/tables/claims.md").read_text()
    assert "| flex beats bicubic | sr | held_out | rfne |" in claims
    assert "| two steps suffice" in claims and "| fc |" in claims
    calibration = (tiny_results / "results/tables/calibration.md").read_text()
    for task, split in itertools.product(config["train"]["tasks"], ("in_distribution", "held_out")):
        for method in ("flex, DDIM", "flex, DDIM eta=1"):
            assert f"| {task} | {method} | 2 | {split} | {int(task == 'fc')} |" in calibration
    assert "| meets |" in calibration or "| misses " in calibration  # the verdict at 2 steps
    done = snakemake(tiny_results, "--report", "report.html", "--configfile", str(TINY))
    report = (tiny_results / "report.html").read_text()
    assert all(name in report for name in figures), done.stderr[-2000:]
    assert "ERROR/" not in done.stderr  # every caption is valid reStructuredText
    # grouped: figures by task, the tables, the training histories, the summary; labelled
    for group in ("Figures", "Super-resolution", "Forecasting", "Both tasks", "Tables",
                  "Training", "Evaluation"):  # fmt: skip
        assert f'"{group}"' in report, group
    for table in ("claims.csv", "sr.csv", "fc.csv", "summary.csv", "history.csv"):
        assert table in report, table
    assert '"figure"' in report and '"model"' in report  # label columns


def test_the_default_study_s_overrides_do_not_leak_into_another_study(tmp_path):
    """With per-job overrides in config/config.yaml: a --configfile that sets train.overrides
    (the tiny study: {}) trains without them; a partial one that leaves them out inherits them
    (Snakemake merges key by key; the workflow replaces this one mapping whole)."""
    workdir = tmp_path / "workflow"
    workdir.mkdir()
    for name in LINKED:
        if name != "config":
            (workdir / name).symlink_to(ROOT / name)
    shutil.copytree(ROOT / "config", workdir / "config")
    default = read_yaml(ROOT / "config/config.yaml")
    default["train"]["overrides"] = {"sr/flex": {"learning_rate": 0.000123}}
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(default))
    (workdir / "partial.yaml").write_text("sample: {ensemble_size: 4}\n")

    def train_commands(*configfiles: str) -> list[str]:
        done = snakemake(workdir, "-n", "-p", "--cores", "2", "results/train/sr/flex/model.pt",
                         "--configfile", *configfiles)  # fmt: skip
        return [line for line in done.stdout.splitlines() if "-m flex.train" in line]

    tiny = train_commands(str(TINY))
    assert tiny and not any("0.000123" in line for line in tiny)
    partial = train_commands("partial.yaml")
    assert partial and all("0.000123" in line for line in partial)
