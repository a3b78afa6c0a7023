"""The workflow under faults: --keep-going past a blow-up, the lock and --unlock, a run killed
during training resumes from the checkpoint, a fresh clone of the same code reruns nothing (what
an edit reruns: tests/test_reruns.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import xarray as xr
import yaml

from tests.conftest import (
    TINY,
    link_workflow,
    read_yaml,
    snakemake,
    snakemake_env,
    with_the_tiny_results,
)
from tests.test_workflow import _dry_run_counts

pytestmark = pytest.mark.slow

BLOW_UP_TIME_STEP = 0.03
"""Measured on the tiny study: Re 40 runs (Courant number < 1), Re 160 passes
simulate.courant_abort=1 after ~100 steps. The solver is deterministic on a CPU."""


def _write_config(workdir: Path, config: dict) -> str:
    (workdir / "study.yaml").write_text(yaml.safe_dump(config))
    return "study.yaml"


def test_a_blow_up_fails_its_job_and_keep_going_finishes_the_others(tmp_path):
    workdir = link_workflow(tmp_path)
    config = read_yaml(TINY)
    config["simulate"]["time_step"] = BLOW_UP_TIME_STEP
    stable, unstable = "results/simulate/re40_seed11.nc", "results/simulate/re160_seed11.nc"
    done = snakemake(workdir, "--cores", "2", "--keep-going", unstable, stable,
                     "--configfile", _write_config(workdir, config), check=False)  # fmt: skip
    text = done.stdout + done.stderr
    assert done.returncode != 0
    assert "Error in rule simulate" in text and "logs/simulate/re160_seed11.log" in text
    log = (workdir / "logs/simulate/re160_seed11.log").read_text()
    assert "simulation unstable" in log and "Re=160, seed=11" in log and "Traceback" not in log
    assert not (workdir / unstable).exists()
    with xr.open_dataset(workdir / stable) as finished:  # the other job ran to its end
        assert finished.sizes["time"] == config["simulate"]["num_snapshots"]


def _locks(workdir: Path) -> list[Path]:
    return (
        list((workdir / ".snakemake/locks").glob("*")) if (workdir / ".snakemake").exists() else []
    )


def _start_in_background(workdir: Path, target: str, study: str) -> subprocess.Popen:
    """`snakemake --cores 1 TARGET --configfile STUDY` in its own session (killpg kills it all)."""
    return subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--cores", "1", target, "--configfile", study],
        cwd=workdir, env=snakemake_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip


def test_a_second_run_is_refused_by_the_lock_and_unlock_clears_a_killed_one(tmp_path):
    workdir = link_workflow(tmp_path)
    config = read_yaml(TINY)
    # A simulation long enough (~30 s at 128^2) to be caught while it runs.
    config["simulate"].update(grid_size=128, storage_tile=128, num_snapshots=400)
    study = _write_config(workdir, config)
    target = "results/simulate/re40_seed11.nc"
    first = _start_in_background(workdir, target, study)
    try:
        deadline = time.monotonic() + 120
        while not _locks(workdir) or not (workdir / "logs/simulate/re40_seed11.log").exists():
            assert first.poll() is None and time.monotonic() < deadline, "first run never locked"
            time.sleep(0.5)
        second = snakemake(workdir, "--cores", "1", target, "--configfile", study, check=False)
        assert first.poll() is None, "the first run ended before the second was refused"
        refused = second.stdout + second.stderr
        assert second.returncode != 0 and "cannot be locked" in refused and "--unlock" in refused
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the whole run, its job included
        first.wait()
    # A killed run leaves its lock (and no output that looks complete).
    assert _locks(workdir) and not (workdir / target).exists()
    stale = snakemake(workdir, "--cores", "1", target, "--configfile", study, check=False)
    assert stale.returncode != 0 and "cannot be locked" in stale.stdout + stale.stderr
    snakemake(workdir, "--unlock", "--configfile", study)
    assert not _locks(workdir)
    config["simulate"]["num_snapshots"] = 4  # the rerun itself kept short
    snakemake(workdir, "--cores", "2", target, "--configfile", _write_config(workdir, config))
    with xr.open_dataset(workdir / target) as finished:
        assert finished.sizes["time"] == 4


def test_a_run_killed_during_training_resumes_the_job_from_its_last_checkpoint(tiny_results,
                                                                              tmp_path):  # fmt: skip
    """SIGKILL to the whole run (Snakemake and its job, as a node failure or `scancel -s KILL`
    does); `--unlock` and the same command again: the training job starts from its checkpoint."""
    from flex.models import checkpoint

    workdir = with_the_tiny_results(tiny_results, link_workflow(tmp_path))
    config = read_yaml(TINY)
    steps = 200
    config["train"]["overrides"] = {"sr/flex": {"steps": steps, "validation_every": 100}}
    config["execution"]["train"]["checkpoint_every"] = 2
    study = _write_config(workdir, config)
    target, job_dir = "results/train/sr/flex/model.pt", workdir / "results/train/sr/flex"
    (job_dir / "checkpoint.pt").unlink()  # the tiny study's own (another configuration)
    run = _start_in_background(workdir, target, study)
    try:
        deadline = time.monotonic() + 300
        while True:
            assert run.poll() is None and time.monotonic() < deadline, "no checkpoint while it ran"
            if (job_dir / "checkpoint.pt").exists():
                if checkpoint.load(job_dir / "checkpoint.pt")["step"] >= 10:
                    break
            time.sleep(0.05)
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
    killed_at = checkpoint.load(job_dir / "checkpoint.pt")["step"]
    assert 10 <= killed_at < steps and not (workdir / target).exists()
    snakemake(workdir, "--unlock", "--configfile", study)
    snakemake(workdir, "--cores", "1", target, "--configfile", study)
    log = (workdir / "logs/train/sr_flex.log").read_text()
    assert f"resumed from results/train/sr/flex/checkpoint.pt at step {killed_at}" in log
    assert checkpoint.load(job_dir / "checkpoint.pt")["step"] == steps
    history = (job_dir / "history.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in history[1:]] == ["100", "200"]


def test_a_fresh_clone_of_the_same_code_reruns_nothing(cloned_study):
    assert _dry_run_counts(cloned_study, read_yaml(TINY)) == {}
