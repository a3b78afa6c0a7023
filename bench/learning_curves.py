"""Learning curves: validation RFNE and loss against training steps and wall time.

    python bench/learning_curves.py --study-dir DIR [--config config/config.yaml] \
        --runs sr/flex/lion/2e-4 sr/unet/lion/2e-4 ... [--steps 1600] [--validation-every 100] \
        [--parallel 2] [--output bench/learning_curves] [--figure docs/figures/learning_curves.png]

DIR holds a study's `results/` (simulations, coarse fields, training statistics: run the study, or
its `simulate`, `coarsen` and `training_statistics` jobs, first). Each run `task/model/optimizer/lr`
is the study's training job for (task, model), with that optimiser and learning rate, `--steps`
steps and a constant rate after the warm-up (`lr_schedule: constant`, so that the curve at step s
is what a run stopped at s would give, without the cosine decay's end-of-run drop), run as the
real stage (`python -m flex.train`, one torch thread each, `--parallel` at a time; logs and
history.csv under `--output`, default results/learning_curves; an interrupted run resumes).
Validation: the study's fixed validation patches, every `--validation-every` steps, RFNE of the
ensemble mean of `validation_members` 2-step members (`validation_rfne` in history.csv).
Printed: RFNE at every doubling of the steps, its improvement over the last doubling (converged:
less than 2%), the best validation loss and the training rate.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from flex.config import to_dict
from flex.config.load import load_study_file
from flex.plan import StudyPlan

ROOT = Path(__file__).resolve().parents[1]
CONVERGED = (
    0.02  # relative RFNE improvement per doubling of the steps below which a run has converged
)


@dataclasses.dataclass(frozen=True)
class Run:
    task: str
    model: str
    optimizer: str
    learning_rate: float

    @classmethod
    def parse(cls, text: str) -> Run:
        try:
            task, model, optimizer, rate = text.split("/")
            return cls(task, model, optimizer, float(rate))
        except ValueError:
            raise SystemExit(f"--runs {text!r}: expected task/model/optimizer/learning_rate, "
                             "e.g. sr/flex/lion/2e-4") from None  # fmt: skip

    @property
    def name(self) -> str:
        return f"{self.task}_{self.model}_{self.optimizer}_{self.learning_rate:g}"


def command(plan: StudyPlan, run: Run, steps: int, every: int, study_dir: Path, output: Path):
    """The train stage's command line for `run`, and the history file it writes."""
    planned = next((p for p in plan.jobs("train")
                    if (p.job.task, p.job.model) == (run.task, run.model)), None)  # fmt: skip
    if planned is None:
        raise SystemExit(f"the study trains no {run.task}/{run.model}")
    settings = dataclasses.replace(planned.job.settings, optimizer=run.optimizer,
                                   learning_rate=run.learning_rate, steps=steps,
                                   validation_every=every, lr_schedule="constant")  # fmt: skip
    job = dataclasses.replace(planned.job, settings=settings)
    execution = {**json.loads(plan.execution("train")), "checkpoint_every": every,
                 "device": "cpu"}  # fmt: skip
    directory = output / run.name
    arguments = [sys.executable, "-m", "flex.train", "--job", json.dumps(to_dict(job)),
                 "--execution", json.dumps(execution), "--threads", "1"]  # fmt: skip
    for name, value in planned.inputs.items():
        files = value if isinstance(value, list) else [value]
        arguments += [f"--{name.replace('_', '-')}", *(str(study_dir / f) for f in files)]
    for name in ("model", "history", "job"):
        suffix = {"model": "model.pt", "history": "history.csv", "job": "job.json"}[name]
        arguments += [f"--{name}-output", str(directory / suffix)]
    return arguments, directory


def run_all(commands: list[tuple[list[str], Path]], parallel: int) -> None:
    pending, running = list(commands), []
    while pending or running:
        while pending and len(running) < parallel:
            arguments, directory = pending.pop(0)
            directory.mkdir(parents=True, exist_ok=True)
            if (directory / "history.csv").exists():
                print(f"{directory.name}: done before")
                continue
            log = open(directory / "train.log", "w")
            env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
            process = subprocess.Popen(arguments, stdout=log, stderr=subprocess.STDOUT, env=env)
            running.append((process, log, directory))
            print(f"{directory.name}: started (log {directory / 'train.log'})")
        for entry in list(running):
            process, log, directory = entry
            if process.poll() is not None:
                log.close()
                running.remove(entry)
                status = "done" if process.returncode == 0 else f"FAILED ({process.returncode})"
                print(f"{directory.name}: {status}")
        time.sleep(5)


def read_history(path: Path) -> list[dict[str, float]]:
    """The numeric columns of a training history (not `task`, the task of each row)."""
    with open(path) as handle:
        return [{k: float(v) for k, v in row.items() if k != "task"}
                for row in csv.DictReader(handle)]  # fmt: skip


def summary(runs: list[Run], output: Path) -> None:
    print("\n| run | RFNE at steps (ensemble mean) | improvement over the last doubling | "
          "converged (< 2%) | "
          "best validation loss (step) | examples/s |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for run in runs:
        path = output / run.name / "history.csv"
        if not path.exists():
            print(f"| {run.name} | (no history) | | | | |")
            continue
        rows = read_history(path)
        by_step = {int(r["step"]): r for r in rows}
        doublings, step = [], int(rows[0]["step"])
        while step in by_step:
            doublings.append(step)
            step *= 2
        rfne = [by_step[s]["validation_rfne"] for s in doublings]
        text = ", ".join(f"{s}: {v:.3f}" for s, v in zip(doublings, rfne, strict=True))
        gain = (rfne[-2] - rfne[-1]) / rfne[-2] if len(rfne) > 1 else float("nan")
        best = min(rows, key=lambda r: r["validation_loss"])
        rate = sum(r["examples_per_s"] for r in rows) / len(rows)
        print(
            f"| {run.name} | {text} | {gain:+.1%} | {'yes' if gain < CONVERGED else 'no'} | "
            f"{best['validation_loss']:.4f} ({int(best['step'])}) | {rate:.1f} |"
        )


def plot(runs: list[Run], output: Path, figure_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({r.task for r in runs})
    figure, axes = plt.subplots(len(tasks), 3, figsize=(14, 3.8 * len(tasks)), squeeze=False,
                                constrained_layout=True)  # fmt: skip
    for row, task in zip(axes, tasks, strict=True):
        baseline = None
        for run in (r for r in runs if r.task == task):
            path = output / run.name / "history.csv"
            if not path.exists():
                continue
            rows = read_history(path)
            steps = [r["step"] for r in rows]
            hours = [r["elapsed_s"] / 3600 for r in rows]
            label = f"{run.model}, {run.optimizer} {run.learning_rate:g}"
            row[0].plot(steps, [r["validation_rfne"] for r in rows], "o-", ms=3, label=label)
            row[1].plot(hours, [r["validation_rfne"] for r in rows], "o-", ms=3, label=label)
            row[2].plot(steps, [r["validation_loss"] for r in rows], "o-", ms=3, label=label)
            baseline = rows[0]["baseline_rfne"]
        if baseline is not None:
            for axis in row[:2]:
                axis.axhline(baseline, color="k", ls=":", label="trivial baseline")
        row[0].set(xscale="log", yscale="log", xlabel="training steps",
                   ylabel="validation RFNE (ensemble mean)", title=f"{task}: RFNE")  # fmt: skip
        row[1].set(yscale="log", xlabel="wall time (h, 1 thread)",
                   ylabel="validation RFNE (ensemble mean)", title=f"{task}: RFNE")  # fmt: skip
        row[2].set(xscale="log", yscale="log", xlabel="training steps",
                   ylabel="validation loss", title=f"{task}: loss")  # fmt: skip
        row[0].legend(fontsize=7)
    figure_path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(figure_path, dpi=120)
    print(f"\nwrote {figure_path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study-dir", required=True, type=Path)
    parser.add_argument("--config", default=str(ROOT / "config/config.yaml"))
    parser.add_argument("--runs", nargs="+", required=True, type=Run.parse)
    parser.add_argument("--steps", type=int, default=1600)
    parser.add_argument("--validation-every", type=int, default=100)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--output", type=Path, default=Path("results/learning_curves"))
    parser.add_argument("--figure", type=Path, default=ROOT / "docs/figures/learning_curves.png")
    parser.add_argument("--report-only", action="store_true", help="table and figure of past runs")
    args = parser.parse_args()
    study, _ = load_study_file(args.config)
    plan = StudyPlan(study)
    if not args.report_only:
        study_dir, output = args.study_dir.resolve(), args.output.resolve()
        commands = [command(plan, run, args.steps, args.validation_every, study_dir, output)
                    for run in args.runs]  # fmt: skip
        run_all(commands, args.parallel)
    summary(args.runs, args.output)
    plot(args.runs, args.output, args.figure)


if __name__ == "__main__":
    main()
