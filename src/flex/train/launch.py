"""How the train rule starts its processes: one per GPU, from the job's resources.

The resources are those Snakemake gives the job: `gpu` from the rule, the job's `ranks` (a training
setting: the global batch is batch_size x ranks, so it is config, not profile), and for several
nodes `nodes`, `tasks_per_node` and `mpi` from the profile (`set-resources: train: ...`):

- `gpu` = G on one node (no `mpi`): G > 1 starts G ranks with torchrun on the node
  (`python -m torch.distributed.run --standalone --nproc_per_node G`), each rank on GPU (local rank
  mod the visible GPUs); G = 1 starts one process.
- `mpi` set (Snakemake's resource for a job that starts its own tasks; the Slurm plugin then leaves
  the job's shell command to start them) with `nodes` = N and `tasks_per_node` = T (the plugin
  asks sbatch for them), N T being the job's ranks (`gpu`: all the job's GPUs, one per rank):
  `{mpi} --nodes N --ntasks-per-node T python ...` starts one rank per Slurm task, across nodes,
  each taking its rank, its local rank and the rendezvous from srun's variables
  (`slurm_rendezvous`). Use `mpi: srun`; a site that starts tasks another way may put its
  launcher there (`srun --mpi=pmix`).

The rendezvous of srun tasks: rank SLURM_PROCID of SLURM_NTASKS, local rank SLURM_LOCALID, the
address of the first node of SLURM_STEP_NODELIST (Slurm's hostlist, `node[01-04]` -> node01), port
`PORT_BASE + SLURM_JOB_ID mod PORT_SPAN` (one rendezvous per job; MASTER_ADDR / MASTER_PORT set by
the user win).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, MutableMapping
from numbers import Integral

from flex.errors import StageFailure

PORT_BASE, PORT_SPAN = 20000, 20000
"""Rendezvous ports of srun-launched jobs: PORT_BASE + job id mod PORT_SPAN."""

TASK_VARIABLES = ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_JOB_ID")


@dataclasses.dataclass(frozen=True)
class Launch:
    """`{program} -m flex.train ... {arguments}`: what replaces `python` and what is appended
    (where the ranks take their rendezvous)."""

    program: str
    ranks: int = 1
    from_slurm: bool = False

    @property
    def arguments(self) -> str:
        return "--ranks-from-slurm" if self.from_slurm else ""


def _count(resources: Mapping, key: str, default: int | None) -> int | None:
    value = resources.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(
            f"resources.{key} of the train rule is {value!r}; allowed: an integer >= 1"
        )
    return int(value)


def launch(resources: Mapping) -> Launch:
    """The processes of one training job from its resources (module docstring)."""
    gpus = _count(resources, "gpu", 1)
    nodes = _count(resources, "nodes", 1)
    mpi = resources.get("mpi")
    if mpi:
        per_node = _count(resources, "tasks_per_node", None)
        if per_node is None or gpus != nodes * per_node:
            raise ValueError(
                "resources of the train rule: with mpi (ranks as Slurm tasks) give tasks_per_node "
                "(ranks per node) such that nodes x tasks_per_node = the job's ranks (its gpu "
                f"resource, train.defaults.ranks or its override); got ranks={gpus}, "
                f"nodes={nodes}, tasks_per_node={per_node}"
            )
        program = f"{mpi} --nodes {nodes} --ntasks-per-node {per_node} --kill-on-bad-exit=1 python"
        return Launch(program, nodes * per_node, from_slurm=True)
    if nodes > 1:
        raise ValueError(
            f"resources.nodes of the train rule is {nodes}: ranks on several nodes are Slurm tasks; "
            "set mpi: srun and tasks_per_node (ranks per node) as well (README, GPU clusters)"
        )
    if gpus > 1:
        return Launch(
            f"python -m torch.distributed.run --standalone --nproc_per_node {gpus}", ranks=gpus
        )
    return Launch("python")


def first_host(hostlist: str) -> str:
    """The first host of a Slurm hostlist: `gpu[003-006,9],cpu1` -> gpu003, `n[1,3]-ib` -> n1-ib,
    `r[1-2]n[01-04]` -> r1n01."""
    match = re.match(r"(?:[^,\[]|\[[^\]]*\])+", hostlist.strip())  # up to a comma outside []
    if match is None:
        raise StageFailure(f"flex train: cannot read the Slurm node list {hostlist!r}")
    return re.sub(r"\[([^\]]*)\]", lambda m: m[1].split(",")[0].split("-")[0], match[0])


def slurm_rendezvous(environ: MutableMapping[str, str]) -> None:
    """Set torch's RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT from srun's task
    variables (module docstring)."""
    missing = [name for name in TASK_VARIABLES if name not in environ]
    if missing:
        raise StageFailure(
            f"flex train --ranks-from-slurm: {', '.join(missing)} not set; run it as Slurm tasks, "
            "`srun --ntasks-per-node T python -m flex.train ... --ranks-from-slurm` inside a job"
        )
    nodelist = environ.get("SLURM_STEP_NODELIST") or environ.get("SLURM_JOB_NODELIST", "")
    environ["RANK"], environ["WORLD_SIZE"] = environ["SLURM_PROCID"], environ["SLURM_NTASKS"]
    environ["LOCAL_RANK"] = environ["SLURM_LOCALID"]
    environ.setdefault("MASTER_ADDR", first_host(nodelist))
    environ.setdefault("MASTER_PORT", str(PORT_BASE + int(environ["SLURM_JOB_ID"]) % PORT_SPAN))
