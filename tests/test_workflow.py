"""The Snakemake workflow: whole-DAG dry runs, the Slurm profile, config errors, a real tiny run.

Each test runs `snakemake` in a scratch directory that links the repository's workflow files, so
that results/ and logs/ of the tests never mix with a user's.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import xarray as xr
import yaml

from tests.conftest import ROOT, TINY, link_workflow, read_yaml, snakemake


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return link_workflow(tmp_path)


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run: {rule: count}."""
    table = output.split("Job stats:")[1].split("\n\n")[0]
    counts = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}
    counts.pop("total", None)
    return counts


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
    assert counts["train"] == len(study["train"]["tasks"]) * len(study["train"]["models"])
    assert counts["training_statistics"] == 1
    assert not (workdir / "results").exists()


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


def test_bad_config_stops_before_any_job_and_writes_nothing(workdir):
    bad = read_yaml(TINY)
    bad["reynolds_numbers"]["held_out"] = [80, -5]
    (workdir / "bad.yaml").write_text(yaml.safe_dump(bad))
    done = snakemake(workdir, "--cores", "1", "--configfile", "bad.yaml", check=False)
    assert done.returncode != 0
    text = done.stdout + done.stderr
    assert "'reynolds_numbers.held_out[1]' = -5" in text
    assert "Traceback" not in text
    assert not (workdir / "results").exists() and not (workdir / "logs").exists()


def test_check_config_command(workdir):
    ok = subprocess.run(["flex", "check-config", "config/config.yaml"], cwd=workdir,
                        capture_output=True, text=True)  # fmt: skip
    assert ok.returncode == 0 and "valid" in ok.stdout
    (workdir / "bad.yaml").write_text("study: {name: x}\n")
    bad = subprocess.run(["flex", "check-config", "bad.yaml"], cwd=workdir, capture_output=True,
                         text=True)  # fmt: skip
    assert bad.returncode == 1 and "missing key 'physics'" in bad.stderr


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
            folder = tiny_results / "results/train" / task / model
            assert {"model.pt", "history.csv", "job.json"} <= {p.name for p in folder.iterdir()}
            assert "step/s" in (tiny_results / f"logs/train/{task}_{model}.log").read_text()


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


def _sampling_jobs(counts: dict[str, int]) -> int:
    return sum(v for k, v in counts.items() if k.startswith("sample"))


def _test_trajectories(config: dict) -> int:
    reynolds = config["reynolds_numbers"]
    return (len(reynolds["train"]) + len(reynolds["held_out"])) * len(config["seeds"]["test"])


def _in_distribution_tests(config: dict) -> int:
    return len(config["reynolds_numbers"]["train"]) * len(config["seeds"]["test"])


def _all_sampling_jobs(config: dict) -> int:
    tasks, models, sample = config["train"]["tasks"], config["train"]["models"], config["sample"]
    tests = _test_trajectories(config)
    main = len(tasks) * (len(models) + 1) * tests
    zero_shot = 2 * len(sample["zero_shot_variables"]) * tests  # flex and bicubic
    steps = len(tasks) * len(sample["steps_study"]) * _in_distribution_tests(config)
    return main + zero_shot + steps


def test_the_tiny_study_has_every_sample_and_evaluation_file(tiny_results):
    config = read_yaml(TINY)
    samples = list((tiny_results / "results/sample").rglob("*.nc"))
    evaluations = list((tiny_results / "results/evaluate").rglob("re*.nc"))
    assert len(samples) == len(evaluations) == _all_sampling_jobs(config)
    summary = (tiny_results / "results/evaluate/summary.csv").read_text().splitlines()
    header = summary[0].split(",")
    assert header[:5] == ["task", "model", "variable", "reynolds_number", "split"]
    assert {"sampling_steps", "ensemble_size", "rfne", "crps", "spread_skill_ratio"} <= set(header)


def test_changing_the_coarsening_method_reruns_coarsening_and_what_follows(tiny_results):
    config = read_yaml(TINY)
    config["coarsen"]["method"] = "box_average"
    counts = _dry_run_counts(tiny_results, config)
    trained = len(config["train"]["tasks"]) * len(config["train"]["models"])
    assert "simulate" not in counts and "training_statistics" not in counts
    assert counts["coarsen"] == expected_trajectories(config) and counts["train"] == trained
    assert _sampling_jobs(counts) == counts["evaluate"] == _all_sampling_jobs(config)


def test_a_new_held_out_reynolds_number_adds_its_own_jobs_only(tiny_results):
    config = read_yaml(TINY)
    config["reynolds_numbers"]["held_out"].append(100)
    counts = _dry_run_counts(tiny_results, config)
    main = len(config["train"]["tasks"]) * (len(config["train"]["models"]) + 1)
    zero_shot = 2 * len(config["sample"]["zero_shot_variables"])
    assert counts == {"simulate": 1, "coarsen": 1, "sample": main, "sample_zero_shot": zero_shot,
                      "evaluate": main + zero_shot, "summary": 1, "figures": 1,
                      "all": 1}  # fmt: skip


def test_a_new_training_seed_reruns_the_statistics_and_training(tiny_results):
    config = read_yaml(TINY)
    config["seeds"]["train"].append(21)
    counts = _dry_run_counts(tiny_results, config)
    n_train = len(config["reynolds_numbers"]["train"])
    trained = len(config["train"]["tasks"]) * len(config["train"]["models"])
    assert counts["simulate"] == counts["coarsen"] == n_train
    assert counts["training_statistics"] == 1 and counts["train"] == trained


def test_a_training_setting_of_one_task_and_model_reruns_that_job_only(tiny_results):
    config = read_yaml(TINY)
    config["train"]["overrides"] = {"sr/flex": {"learning_rate": 1.0e-3}}
    counts = _dry_run_counts(tiny_results, config)
    tests, sample = _test_trajectories(config), config["sample"]
    sr_flex = (tests + len(sample["zero_shot_variables"]) * tests
               + len(sample["steps_study"]) * _in_distribution_tests(config))  # fmt: skip
    assert counts["train"] == 1 and "simulate" not in counts and "coarsen" not in counts
    assert _sampling_jobs(counts) == counts["evaluate"] == sr_flex


def test_a_sampling_setting_reruns_sampling_evaluation_and_summary_only(tiny_results):
    config = read_yaml(TINY)
    config["sample"]["ensemble_size"] += 1
    counts = _dry_run_counts(tiny_results, config)
    assert set(counts) == {"sample", "sample_zero_shot", "sample_steps_study", "evaluate",
                           "summary", "figures", "all"}  # fmt: skip


def test_figures_tables_and_the_report(tiny_results):
    from flex.figures.run import FIGURES, TABLES

    for name in FIGURES:
        for suffix in (".png", ".pdf"):
            assert (tiny_results / "results/figures" / f"{name}{suffix}").stat().st_size > 1000
    for task in TABLES:
        markdown = (tiny_results / "results/tables" / f"{task}.md").read_text()
        assert "| flex | in_distribution |" in markdown and "| flex | held_out |" in markdown
        assert (
            (tiny_results / "results/tables" / f"{task}.tex")
            .read_text()
            .startswith("\\begin{table}")
        )
    done = snakemake(tiny_results, "--report", "report.html", "--configfile", str(TINY))
    report = (tiny_results / "report.html").read_text()
    assert all(name in report for name in FIGURES), done.stderr[-2000:]


def test_a_figure_setting_reruns_the_figures_only(tiny_results):
    config = read_yaml(TINY)
    config["figures"]["dpi"] += 10
    assert _dry_run_counts(tiny_results, config) == {"figures": 1, "all": 1}


def test_the_grid_size_reruns_everything(tiny_results):
    config = read_yaml(TINY)
    config["simulate"]["grid_size"] *= 2
    counts = _dry_run_counts(tiny_results, config)
    trained = len(config["train"]["tasks"]) * len(config["train"]["models"])
    assert counts["simulate"] == counts["coarsen"] == expected_trajectories(config)
    assert counts["training_statistics"] == 1 and counts["train"] == trained
    assert counts["evaluate"] == _all_sampling_jobs(config) and counts["figures"] == 1
