"""The Snakemake workflow: whole-DAG dry runs, the Slurm profile, config errors, a real tiny run.

Each test runs `snakemake` in a scratch directory that links the repository's workflow files, so
that results/ and logs/ of the tests never mix with a user's.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import xarray as xr
import yaml

from tests.conftest import ROOT, TINY, read_yaml

LINKED = ["Snakefile", "workflow", "config", "profiles", "slurm", "src"]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    for name in LINKED:
        (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", *args], cwd=workdir, capture_output=True, text=True,
        env=env, timeout=900,
    )  # fmt: skip
    if check:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run: {rule: count}."""
    table = output.split("Job stats:")[1].split("\n\n")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}


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
    assert counts["simulate"] == expected_trajectories(read_yaml(ROOT / config))
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


def test_real_run_of_the_simulate_rule_on_the_tiny_study(workdir):
    target = "results/simulate/re40_seed11.nc"
    snakemake(workdir, target, "--cores", "2", "--configfile", str(TINY))
    with xr.open_dataset(workdir / target) as ds:
        assert ds.vorticity.dims == ("time", "y", "x")
        assert ds.attrs["reynolds_number"] == 40.0 and ds.attrs["seed"] == 11
    log = (workdir / "logs/simulate/re40_seed11.log").read_text()
    assert "step/s" in log and "wrote results/simulate/re40_seed11.nc" in log
    assert (workdir / "benchmarks/simulate/re40_seed11.tsv").exists()
    again = snakemake(workdir, target, "-n", "--cores", "2", "--configfile", str(TINY))
    assert "Nothing to be done" in again.stdout + again.stderr
