"""How the train rule starts its ranks (flex.train.launch): from the job's resources."""

from __future__ import annotations

import pytest

from flex.errors import StageFailure
from flex.train.launch import PORT_BASE, PORT_SPAN, first_host, launch, slurm_rendezvous


def test_one_gpu_is_one_process_and_several_on_one_node_are_torchrun_ranks():
    assert launch({}).program == "python" and launch({"gpu": 1}).arguments == ""
    four = launch({"gpu": 4})
    assert four.program == "python -m torch.distributed.run --standalone --nproc_per_node 4"
    assert four.arguments == "" and four.ranks == 4


def test_ranks_on_several_nodes_are_slurm_tasks():
    job = launch({"gpu": 8, "nodes": 2, "tasks_per_node": 4, "mpi": "srun"})
    assert job.program == "srun --nodes 2 --ntasks-per-node 4 --kill-on-bad-exit=1 python"
    assert job.arguments == "--ranks-from-slurm" and job.ranks == 8
    site = launch({"gpu": 2, "tasks_per_node": 2, "mpi": "srun --mpi=pmix"})
    assert site.program.startswith("srun --mpi=pmix --nodes 1 --ntasks-per-node 2 ")


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"gpu": 0}, "resources.gpu of the train rule is 0; allowed: an integer >= 1"),
        ({"gpu": "two"}, "resources.gpu of the train rule is 'two'"),
        ({"gpu": 8, "nodes": 2}, "set mpi: srun and tasks_per_node"),
        ({"gpu": 8, "nodes": 2, "mpi": "srun"}, "got ranks=8, nodes=2, tasks_per_node=None"),
        (
            {"gpu": 4, "nodes": 2, "tasks_per_node": 4, "mpi": "srun"},
            "nodes x tasks_per_node = the job's ranks",
        ),
    ],
)
def test_resources_that_cannot_be_launched_are_named(resources, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("?", r"\?")):
        launch(resources)


@pytest.mark.parametrize(
    ("hostlist", "first"),
    [("node7", "node7"), ("gpu[003-006,9],cpu1", "gpu003"), ("n[1,3]-ib", "n1-ib"),
     ("a1,b2", "a1"), ("r[08-10]n[1-2],x", "r08n1")],
)  # fmt: skip
def test_the_first_host_of_a_slurm_hostlist(hostlist, first):
    assert first_host(hostlist) == first


def test_the_rendezvous_of_srun_tasks():
    environ = {"SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1",
               "SLURM_JOB_ID": "123456", "SLURM_STEP_NODELIST": "gpu[12-13]"}  # fmt: skip
    slurm_rendezvous(environ)
    assert (environ["RANK"], environ["WORLD_SIZE"], environ["LOCAL_RANK"]) == ("5", "8", "1")
    assert environ["MASTER_ADDR"] == "gpu12"
    assert environ["MASTER_PORT"] == str(PORT_BASE + 123456 % PORT_SPAN)
    mine = {**environ, "MASTER_ADDR": "head", "MASTER_PORT": "29500"}
    slurm_rendezvous(mine)  # what the user set wins
    assert (mine["MASTER_ADDR"], mine["MASTER_PORT"]) == ("head", "29500")


def test_an_empty_node_list_is_a_clear_error():
    with pytest.raises(StageFailure, match="cannot read the Slurm node list"):
        first_host("")


def test_ranks_from_slurm_outside_srun_tasks_is_a_clear_error():
    with pytest.raises(StageFailure, match="SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID"):
        slurm_rendezvous({"SLURM_JOB_ID": "1"})
