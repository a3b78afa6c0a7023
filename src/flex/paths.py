"""Where each stage's files live: the one place that names them, for the study plan and the rules.

Patterns use Snakemake's `{wildcard}` syntax; the functions fill them in. Only the study plan
(`flex.plan`) and the workflow use this module: a stage is given its paths by the rule.
"""

from __future__ import annotations

RESULTS = "results"

SIMULATION = RESULTS + "/simulate/re{re}_seed{seed}.nc"
BOUNDARY_SIMULATION = RESULTS + "/simulate/{boundary}/re{re}_seed{seed}.nc"
COARSE = RESULTS + "/coarsen/re{re}_seed{seed}.nc"
BOUNDARY_COARSE = RESULTS + "/coarsen/{boundary}/re{re}_seed{seed}.nc"
STATISTICS = RESULTS + "/coarsen/training_statistics.nc"
TRAIN_DIRECTORY = RESULTS + "/train/{task}/{model}"
MODEL = TRAIN_DIRECTORY + "/model.pt"
HISTORY = TRAIN_DIRECTORY + "/history.csv"
TRAIN_JOB = TRAIN_DIRECTORY + "/job.json"
SAMPLE = RESULTS + "/sample/{name}.nc"
EVALUATION = RESULTS + "/evaluate/{name}.nc"
SUMMARY_CSV = RESULTS + "/evaluate/summary.csv"
SUMMARY_NC = RESULTS + "/evaluate/summary.nc"
FIGURE = RESULTS + "/figures/{name}.{suffix}"
TABLE = RESULTS + "/tables/{name}.{suffix}"

LOG = "logs/{stage}/{name}.log"
BENCHMARK = "benchmarks/{stage}/{name}.tsv"


def reynolds_label(reynolds_number: float) -> str:
    """File-name form of a Reynolds number: 1000 -> '1000', 1500.5 -> '1500.5'."""
    if float(reynolds_number).is_integer():
        return str(int(reynolds_number))
    return f"{reynolds_number:g}"


def trajectory_name(reynolds_number: float, seed: int) -> str:
    return f"re{reynolds_label(reynolds_number)}_seed{seed}"


def simulation_file(reynolds_number: float, seed: int) -> str:
    return SIMULATION.format(re=reynolds_label(reynolds_number), seed=seed)


def boundary_simulation_file(boundary: str, reynolds_number: float, seed: int) -> str:
    """A test trajectory under a held-out boundary (`held_out_boundary.boundaries`)."""
    return BOUNDARY_SIMULATION.format(boundary=boundary, re=reynolds_label(reynolds_number),
                                      seed=seed)  # fmt: skip


def coarse_file(reynolds_number: float, seed: int) -> str:
    return COARSE.format(re=reynolds_label(reynolds_number), seed=seed)


def boundary_coarse_file(boundary: str, reynolds_number: float, seed: int) -> str:
    return BOUNDARY_COARSE.format(boundary=boundary, re=reynolds_label(reynolds_number), seed=seed)


def train_file(pattern: str, task: str, model: str) -> str:
    return pattern.format(task=task, model=model)


def sample_name(task: str, model: str, reynolds_number: float, seed: int,
                variable: str = "vorticity", steps: int | None = None,
                boundary: str | None = None, eta: float = 0.0) -> str:  # fmt: skip
    """`{task}/{model}[/steps{n}[_eta{eta}]][/{boundary}]/re{re}_seed{seed}[_{variable}]`
    (vorticity has no suffix; a held-out boundary has its folder; the steps study's sampler has
    its eta in the folder unless it is 0, deterministic DDIM)."""
    folder = f"{task}/{model}" + (f"/steps{steps}" if steps is not None else "")
    folder += f"_eta{eta:g}" if steps is not None and eta != 0 else ""
    folder += f"/{boundary}" if boundary is not None else ""
    suffix = "" if variable == "vorticity" else f"_{variable}"
    return f"{folder}/{trajectory_name(reynolds_number, seed)}{suffix}"


def sample_file(name: str) -> str:
    return SAMPLE.format(name=name)


def evaluation_file(name: str) -> str:
    return EVALUATION.format(name=name)


def figure_file(name: str, suffix: str) -> str:
    return FIGURE.format(name=name, suffix=suffix)


def table_file(name: str, suffix: str) -> str:
    return TABLE.format(name=name, suffix=suffix)
