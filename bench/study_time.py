"""Where the wall time of a finished study went, from Snakemake's own log of the run.

    python bench/study_time.py .snakemake/log/<run>.snakemake.log [--cores 2]
    python bench/study_time.py LOG --without 'uvit|flex_mt'     # the jobs some change would drop

Snakemake logs every job's start (`[date]` then `localrule <rule>:` with its `output:` and
`jobid:`) and its end (`[date]` then `Finished jobid: <id>`), to the second. From them:

- per rule: jobs, job time (the sum over its jobs of end - start, Snakemake's own overhead per
  job included), its share of all job time, the mean and the longest job;
- per model (task/model of the train, sample and evaluate jobs): job time of each stage;
- the occupancy of the cores: for how much of the wall 0, 1, ..., `cores` jobs ran at once
  (every job of this workflow is given one thread), and the idle core time
  sum_t (cores - running(t)), the time a perfect schedule could still recover;
- with `--without REGEX`: the job time of the jobs whose output path matches, and the lower
  bound (job time - theirs) / cores on the wall of the study without them.

Job times are the Snakemake view (start to finish as the scheduler saw it); the per-job
`benchmarks/**/*.tsv` files hold the same jobs' own wall times without the scheduler's overhead.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
START = re.compile(r"^(?:local)?rule (\w+):$")
FINISHED = re.compile(r"^Finished jobid: (\d+)")
MODEL_RULES = ("train", "sample", "evaluate")
"""Rules whose jobs belong to one (task, model): their output paths hold `<stage>/<task>/<model>`."""


@dataclasses.dataclass
class Job:
    rule: str
    jobid: int
    output: str
    start: datetime
    end: datetime | None = None
    benchmark: str | None = None

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def model(self) -> str | None:
        """task/model of a train, sample or evaluate job (train's `mt` task included)."""
        if self.rule.removesuffix("_trivial") not in MODEL_RULES:
            return None
        parts = self.output.split("/")
        return "/".join(parts[2:4]) if len(parts) > 4 else None


def parse_log(lines: Iterable[str]) -> list[Job]:
    """The finished jobs of a Snakemake log, in order of their start."""
    stamp: datetime | None = None
    started: dict[int, Job] = {}
    current: Job | None = None
    for line in lines:
        line = line.rstrip("\n")
        if found := STAMP.match(line):
            stamp, current = datetime.strptime(found.group(1), "%a %b %d %H:%M:%S %Y"), None
        elif (found := START.match(line)) and stamp is not None:
            current = Job(found.group(1), -1, "", stamp)
        elif current is not None and line.startswith("    output: "):
            current.output = line.split(": ", 1)[1].split(",")[0].strip()
        elif current is not None and line.startswith("    benchmark: "):
            current.benchmark = line.split(": ", 1)[1].strip()
        elif current is not None and line.startswith("    jobid: "):
            current.jobid = int(line.split(": ", 1)[1])
            started[current.jobid] = current
        elif (found := FINISHED.match(line)) and stamp is not None:
            job = started.get(int(found.group(1)))
            if job is not None:
                job.end = stamp
    return [job for job in started.values() if job.end is not None]


def occupancy(jobs: list[Job]) -> dict[int, float]:
    """Seconds of the wall during which n jobs ran at once, for each n."""
    events = sorted([(j.start, 1) for j in jobs] + [(j.end, -1) for j in jobs])  # ends first
    spans: dict[int, float] = defaultdict(float)
    running, last = 0, events[0][0]
    for time, change in events:
        spans[running] += (time - last).total_seconds()
        running, last = running + change, time
    return dict(spans)


def report(jobs: list[Job], cores: int, without: str | None) -> str:
    wall = (max(j.end for j in jobs) - min(j.start for j in jobs)).total_seconds()
    total = sum(j.seconds for j in jobs)
    lines = [f"{len(jobs)} jobs, wall {wall / 60:.1f} min, job time {total / 60:.1f} min "
             f"({total / wall:.2f} jobs at once on average; {cores} cores)", "",
             "| rule | jobs | job time (min) | share | mean (s) | longest (s) | longest job |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    by_rule: dict[str, list[Job]] = defaultdict(list)
    for job in jobs:
        by_rule[job.rule].append(job)
    for rule, group in sorted(by_rule.items(), key=lambda item: -sum(j.seconds for j in item[1])):
        seconds = sum(j.seconds for j in group)
        longest = max(group, key=lambda j: j.seconds)
        lines.append(f"| {rule} | {len(group)} | {seconds / 60:.1f} | {seconds / total:.0%} | "
                     f"{seconds / len(group):.0f} | {longest.seconds:.0f} | {longest.output} |")  # fmt: skip
    lines += ["", "| task/model | train (min) | sample (min) | evaluate (min) | all (min) |",
              "|---|---|---|---|---|"]  # fmt: skip
    by_model: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for job in jobs:
        if job.model is not None:
            by_model[job.model][job.rule.removesuffix("_trivial")] += job.seconds
    for model, stages in sorted(by_model.items(), key=lambda item: -sum(item[1].values())):
        cells = " | ".join(f"{stages.get(rule, 0.0) / 60:.1f}" for rule in MODEL_RULES)
        lines.append(f"| {model} | {cells} | {sum(stages.values()) / 60:.1f} |")
    spans = occupancy(jobs)
    idle = sum((cores - n) * s for n, s in spans.items() if n < cores)
    shares = ", ".join(f"{n} for {spans.get(n, 0.0) / wall:.0%}" for n in range(cores + 1))
    packed = (wall - idle / cores) / 60
    lines += ["", f"jobs running at once: {shares} of the wall; idle core time "
              f"{idle / 60:.1f} min (the wall of a schedule without it: {packed:.1f} min)"]  # fmt: skip
    if without:
        pattern = re.compile(without)
        dropped = [j for j in jobs if pattern.search(j.output)]
        left = total - sum(j.seconds for j in dropped)
        lines.append(f"without the {len(dropped)} jobs matching {without!r}: job time "
                     f"{left / 60:.1f} min, wall at least {left / cores / 60:.1f} min on "
                     f"{cores} cores")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path, help="a Snakemake log: .snakemake/log/*.snakemake.log")
    parser.add_argument("--cores", type=int, default=2, help="the run's --cores")
    parser.add_argument("--without", help="a regular expression on job output paths")
    args = parser.parse_args(argv)
    jobs = parse_log(args.log.read_text().splitlines())
    if not jobs:
        raise SystemExit(f"{args.log}: no finished job in this log (is it a Snakemake log?)")
    text = report(jobs, args.cores, args.without)
    print(text)
    return text


if __name__ == "__main__":
    main()
