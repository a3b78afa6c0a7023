"""A cut of the tiny study on a real Slurm cluster, with the user's command `snakemake --profile slurm`.

Needs a running cluster: `sudo scripts/slurm-local.sh start` (CI does this; it sets
FLEX_REQUIRE_SLURM=1 so that a missing cluster fails instead of skipping). The cluster has no
accounting, so the CI-only flags below ask squeue for job states and check them after 1 s instead
of the plugin's 40 s; users' clusters keep the profile as it is.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr
import yaml

from flex.command import parse_json
from flex.config import TrainJob
from flex.config.load import load_study
from flex.models import checkpoint
from flex.plan import ENTRY_MODULES, StudyPlan
from tests.conftest import (
    ROOT,
    SCHEMA,
    TINY,
    link_workflow,
    read_yaml,
    snakemake_env,
    with_the_tiny_results,
)
from tests.test_train import torchrun, train_command

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

CI_FLAGS = ("--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "1")
"""Settings of the test cluster (no sacct, a 2-core node), not of the profile users get."""

KILL_AFTER_SECONDS = 1500
"""`timeout -s KILL` bound of one Snakemake run: a lost job must not hang CI for 90 minutes."""

LOCAL_RULES = {"all", "summary"}
"""Rules the workflow runs on the submitting host (localrules); every other job goes to sbatch."""


@pytest.fixture(scope="module")
def slurm_env() -> dict[str, str]:
    """The environment of a running cluster, or a skip (a failure when CI requires one)."""
    env = snakemake_env()  # the local cluster links /etc/slurm/slurm.conf: no SLURM_CONF needed
    reason = None
    if shutil.which("sbatch") is None:
        reason = "sbatch not found"
    else:
        state = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True, timeout=30
        )
        if state.returncode != 0 or not {"idle", "mixed", "allocated"} & set(state.stdout.split()):
            reason = f"no idle Slurm node (sinfo: {state.stdout.strip()} {state.stderr.strip()})"
    if reason is not None:
        message = f"{reason}: start a cluster with `sudo scripts/slurm-local.sh start`"
        if os.environ.get("FLEX_REQUIRE_SLURM"):
            pytest.fail(message)
        pytest.skip(message)
    return env


def run_id(output: str) -> str | None:
    """The run ID a Snakemake run under the Slurm plugin prints (it names the run's jobs)."""
    found = re.search(r"SLURM run ID: (\S+)", output)
    return None if found is None else found[1]


def run_under_slurm(workdir: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    """`snakemake --cores all --profile slurm ARGS` in `workdir`, killed if it outlives the bound."""
    command = [
        "timeout", "-s", "KILL", str(KILL_AFTER_SECONDS),
        sys.executable, "-m", "snakemake", "--cores", "all", "--profile", "slurm", *CI_FLAGS, *args,
    ]  # fmt: skip
    done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)
    # Whatever happened, leave no job of this run behind on the cluster (its jobs are named by its
    # run ID; the user's other jobs, on a real cluster, are not the test's to cancel).
    name = run_id(done.stdout + done.stderr)
    if name is not None:
        subprocess.run(["scancel", "--quiet", "--name", name], env=env, check=False)
    return done


def on_the_cpu(config: dict) -> dict:
    """The config with every device setting `cpu`: the cluster's GPUs are fake (/dev/null), and a
    job given a GPU that it cannot use fails unless the config chooses the CPU (flex.devices)."""
    for section in config["execution"].values():
        if "device" in section:
            section["device"] = "cpu"
    return config


def slurm_study(config: dict) -> dict:
    """The tiny study cut to what the Slurm tests exercise, so that CI stays short: the
    super-resolution task alone (forecasting trains under Slurm in the two-GPU test below), one
    trained model (FLEX) with the trivial baseline, one held-out Reynolds number, one zero-shot
    variable, the steps study at one number of steps and one sampler, no wall-bounded
    trajectory. Every rule but the boundary ones runs, each grouped rule with several jobs a
    group; the training data are the tiny study's, so its files are a subset of the tiny study's,
    computed with the same job parameters (compared below)."""
    config["train"].update(tasks=["sr"], models=["flex"])
    config["reynolds_numbers"]["held_out"] = [config["figures"]["example_reynolds_number"]]
    config["sample"].update(zero_shot_variables=["u"], steps_study=[2], steps_study_etas=[0.0])
    config["held_out_boundary"]["boundaries"] = []
    return config


@pytest.fixture(scope="module")
def slurm_results(tmp_path_factory, slurm_env) -> tuple[Path, subprocess.CompletedProcess]:
    workdir = link_workflow(tmp_path_factory.mktemp("slurm_workflow"))
    (workdir / "cpu.yaml").write_text(yaml.safe_dump(on_the_cpu(slurm_study(read_yaml(TINY)))))
    done = run_under_slurm(workdir, slurm_env, "--configfile", "cpu.yaml")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return workdir, done


def _data_arrays_equal(local: Path, remote: Path) -> None:
    with xr.open_dataset(local) as a, xr.open_dataset(remote) as b:
        assert set(a.data_vars) == set(b.data_vars), local
        for name in a.data_vars:
            np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=f"{local}:{name}")
        for name in a.coords:
            np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=f"{local}:{name}")


def profile_groups() -> dict[str, tuple[str, int]]:
    """{rule: (group, jobs per submission)} of the Slurm profile's `groups`/`group-components`."""
    profile = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    sizes = dict(entry.split("=") for entry in profile.get("group-components", []))
    return {rule: (group, int(sizes.get(group, 1)))
            for rule, group in (entry.split("=") for entry in profile.get("groups", []))}  # fmt: skip


def test_every_job_goes_through_sbatch_in_groups_and_completes(slurm_results):
    """Every job but the local rules is submitted: alone, or in a group of up to the profile's
    `group-components` jobs of one rule (so the run needs far fewer submissions than jobs)."""
    workdir, done = slurm_results
    text = done.stdout + done.stderr
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", text)
    assert len(set(submitted)) == len(submitted)
    stats = text.split("Job stats:")[1].split("\n\n")[0]
    counts = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.MULTILINE)}
    counts.pop("total")
    groups = profile_groups()
    expected = sum(
        -(-count // groups[rule][1]) if rule in groups else count  # ceil for grouped rules
        for rule, count in counts.items()
        if rule not in LOCAL_RULES
    )
    assert len(submitted) == expected, (counts, len(submitted))
    assert len(submitted) < sum(counts.values()) // 2
    assert (workdir / "results/evaluate/summary.csv").exists()


def _job_records(env: dict, name: str | None) -> list[dict[str, str]]:
    """`scontrol show job -o` records of one Snakemake run (jobs are named by its run ID, `name`,
    and kept MinJobAge seconds after they end: one hour on the local cluster)."""
    assert name is not None, "the run printed no SLURM run ID"
    shown = subprocess.run(["scontrol", "show", "job", "-o"], env=env, capture_output=True,
                           text=True, check=True).stdout  # fmt: skip
    records = [dict(re.findall(r"(\w+)=(\S*)", line)) for line in shown.splitlines()]
    return [record for record in records if record.get("JobName") == name]


def test_gpu_rules_get_a_gpu_from_slurm_and_the_code_runs_on_the_cpu(slurm_results, slurm_env):
    workdir, done = slurm_results
    text = done.stdout + done.stderr
    records = _job_records(slurm_env, run_id(text))
    profile = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    gpu_rules = {rule for rule, resources in profile["set-resources"].items()
                 if "cpus_per_gpu" in resources}  # fmt: skip
    assert len(records) == len(re.findall(r"has been submitted with SLURM jobid", text))
    group_rules = {f"{group}_{rule}": rule for rule, (group, _) in profile_groups().items()}
    for record in records:
        rule = re.match(r"rule_([a-z_]+?)(_wildcards_|$)", record["Comment"])[1]
        rule = group_rules.get(rule, rule)  # a group's comment is rule_<group>_<rule>
        assert ("gpu" in record.get("TresPerJob", "")) == (rule in gpu_rules), record
        assert record["JobState"] == "COMPLETED", record
        if rule in group_rules.values():  # one GPU per group, whatever its size
            assert record.get("TresPerJob", "") in ("", "gres/gpu:1", "gres:gpu:1"), record
    assert {"simulate", "train", "sample"} <= gpu_rules
    assert " on cpu" in (workdir / "logs/train/sr_flex.log").read_text()


def test_slurm_results_equal_a_local_run(slurm_results, tiny_results):
    """Every file of the Slurm run equals the local tiny study's file of the same name (the same
    jobs with the same parameters), and every row of its summary is one of the local summary's."""
    workdir, _ = slurm_results
    slurm_files = sorted(p.relative_to(workdir) for p in workdir.glob("results/**/*.nc"))
    plan = StudyPlan(load_study(read_yaml(workdir / "cpu.yaml"), SCHEMA))
    planned = {Path(path) for rule in ENTRY_MODULES for job in plan.jobs(rule)
               for path in job.outputs if path.endswith(".nc")}  # fmt: skip
    assert set(slurm_files) == planned
    for relative in slurm_files:
        if relative.name != "summary.nc":
            _data_arrays_equal(tiny_results / relative, workdir / relative)
    with (
        open(tiny_results / "results/evaluate/summary.csv") as a,
        open(workdir / "results/evaluate/summary.csv") as b,
    ):
        local, remote = list(csv.reader(a)), list(csv.reader(b))
    assert remote[0] == local[0] and len(remote) > 1
    assert not [row for row in remote[1:] if row not in local[1:]]
    figures = sorted(p.name for p in (workdir / "results/figures").glob("*.png"))
    local_figures = sorted(p.name for p in (tiny_results / "results/figures").glob("*.png"))
    assert figures and set(figures) <= set(local_figures)


def test_a_job_failing_under_slurm_is_reported_with_its_log_and_leaves_no_output(
    tmp_path, slurm_env
):
    workdir = link_workflow(tmp_path)
    config = on_the_cpu(read_yaml(TINY))
    config["simulate"]["time_step"] = 0.2  # far past the Courant limit: the run blows up
    config["held_out_boundary"]["boundaries"] = []  # its wall-bounded solver would refuse the step
    (workdir / "bad.yaml").write_text(yaml.safe_dump(config))
    target = "results/simulate/re160_seed11.nc"
    done = run_under_slurm(workdir, slurm_env, target, "--retries", "0", "--configfile", "bad.yaml")
    text = done.stdout + done.stderr
    assert done.returncode != 0
    assert "Error in rule simulate" in text
    log = "logs/simulate/re160_seed11.log"
    assert "simulation unstable" in (workdir / log).read_text()
    # Snakemake names both the job's log and Slurm's log of the job.
    reported = re.search(rf"log: {re.escape(log)}, (\S+/slurm_logs/rule_simulate/\S+\.log)", text)
    assert reported is not None, text[-3000:]
    assert Path(reported[1]).exists()
    assert not (workdir / target).exists()
    assert not list(workdir.glob("results/simulate/*"))  # no temporary file either


def test_a_gpu_job_whose_library_cannot_use_its_gpu_fails_at_once(tmp_path, slurm_env):
    """`device: auto` (the default) on a node whose GPU the code cannot use: the job fails with one
    line in its log instead of computing on the CPU inside its GPU allocation."""
    workdir = link_workflow(tmp_path)
    target = "results/simulate/re160_seed11.nc"
    done = run_under_slurm(workdir, slurm_env, target, "--retries", "0", "--configfile", str(TINY))
    assert done.returncode != 0
    assert "Error in rule simulate" in done.stdout + done.stderr
    log = (workdir / "logs/simulate/re160_seed11.log").read_text()
    (line,) = [line for line in log.splitlines() if "given a GPU" in line]
    assert line.startswith("flex simulate: the job was given a GPU ("), line
    assert "jax" in line and "set 'execution.simulate.device' to 'cpu'" in line
    assert "Traceback" not in log and "steps/save" not in log  # before the solver is built
    assert not list(workdir.glob("results/simulate/*"))


TRAINING_STEPS = 60
"""Steps of the multi-GPU training test: long enough to be killed after its first checkpoints."""


def _checkpoint_step(path: Path) -> int:
    try:
        return checkpoint.load(path)["step"]
    except (FileNotFoundError, RuntimeError, KeyError):
        return 0


def test_training_on_two_gpus_runs_two_ranks_through_sbatch_and_resumes(
    tmp_path, slurm_env, tiny_results
):
    """A job of `ranks: 2` is one sbatch job given two GPUs that runs two ranks (torchrun). Killed
    after a checkpoint, the job submitted again as two Slurm tasks (`mpi: srun`, one rank per task)
    resumes there and ends with the weights of an uninterrupted two-rank run."""
    (tmp_path / "workflow").mkdir()
    workdir = with_the_tiny_results(tiny_results, link_workflow(tmp_path / "workflow"))
    config = on_the_cpu(read_yaml(TINY))
    config["train"]["overrides"] = {"fc/flex": {"steps": TRAINING_STEPS, "ranks": 2}}
    (workdir / "cpu.yaml").write_text(yaml.safe_dump(config))
    target, folder = "results/train/fc/flex/model.pt", workdir / "results/train/fc/flex"
    shutil.rmtree(folder)  # the tiny study's model and checkpoint
    two_gpus = ("--set-resources", "train:cpus_per_gpu=1")  # 2 ranks x 1 CPU: a 2-core node
    arguments = [target, "--retries", "0", "--configfile", "cpu.yaml"]
    command = [sys.executable, "-m", "snakemake", "--cores", "all", "--profile", "slurm", *CI_FLAGS,
               *arguments, *two_gpus]  # fmt: skip
    first = subprocess.Popen(command, cwd=workdir, env={**slurm_env, "PYTHONUNBUFFERED": "1"},
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    lines: list[str] = []  # the run's output so far, read beside it (its run ID names its job)

    def read() -> None:
        for line in first.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + KILL_AFTER_SECONDS
        while _checkpoint_step(folder / "checkpoint.pt") < 4 and first.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint"
            time.sleep(0.5)
        # Slurm ends the job (as at its time limit); Snakemake reports the failure and exits.
        name = run_id("".join(lines))
        assert name is not None, "".join(lines)[-3000:]
        subprocess.run(["scancel", "--quiet", "--name", name], env=slurm_env)
        first.wait(timeout=600)
        reader.join(timeout=60)
        text = "".join(lines)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode != 0 and "Error in rule train" in text, text[-3000:]
    killed_at = _checkpoint_step(folder / "checkpoint.pt")
    assert 4 <= killed_at < TRAINING_STEPS, text[-3000:]
    assert not (folder / "model.pt").exists()
    (record,) = _job_records(slurm_env, run_id(text))
    assert record["TresPerJob"] in ("gres/gpu:2", "gres:gpu:2") and record["NumTasks"] == "1"

    tasks = ("train:nodes=1", "train:tasks_per_node=2", "train:mpi=srun")
    done = run_under_slurm(workdir, slurm_env, *arguments, *two_gpus, *tasks)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (record,) = _job_records(slurm_env, run_id(done.stdout + done.stderr))
    assert record["TresPerJob"] in ("gres/gpu:2", "gres:gpu:2") and record["NumTasks"] == "2"
    # Progress bar (stderr) and messages (stdout) share the log: bytes may interleave.
    log = (workdir / "logs/train/fc_flex.log").read_text(errors="replace")
    resumed = [int(m) for m in re.findall(r"resumed from \S+ at step (\d+)", log)]
    assert resumed and resumed[0] >= killed_at, log[-2000:]
    assert f"{TRAINING_STEPS} steps of batch 2 x 2" in log
    record = json.loads((folder / "job.json").read_text())
    assert record["job"]["settings"]["ranks"] == 2

    job = parse_json(json.dumps(record["job"]), TrainJob, "job")
    reference = torchrun(2, train_command(job, workdir, tmp_path / "reference"))
    assert reference.returncode == 0, reference.stderr[-3000:]
    ours, uninterrupted = (checkpoint.load(p)["weights"]
                           for p in (folder / "model.pt", tmp_path / "reference/model.pt"))  # fmt: skip
    assert all(torch.equal(ours[k], uninterrupted[k]) for k in uninterrupted)


def test_the_profile_users_get_has_no_ci_only_setting():
    profile = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    flat = yaml.safe_dump(profile)
    assert "status-command" not in flat and "init-seconds" not in flat
    assert profile["executor"] == "slurm"
