"""Task-example loader throughput and memory, at the default config and on a 2048^2 file > 8 GB.

    python bench/data_loader.py --results results            # needs the default study's data
    python bench/data_loader.py --results results --big /path/on/disk/big.nc   # + 2048^2 part

1. Default config: training examples/s of `TaskExamples` (sr and fc, random patches, batch 8)
   through a torch DataLoader with 0 and 2 workers, against the rate at which a training step of
   the default model (FLEX `tiny`: task encoder + backbone, L1 v-loss, backward, Lion step, one
   torch thread as in the workflow) consumes examples, measured in the same run. Target:
   loader / consumer >= 5.
2. 2048^2: a data-contract file of 2048^2 float32 fields (vorticity, u, v; random values: only
   I/O is measured) larger than 8 GB is written to --big (kept for reruns) and coarsened by the
   real coarsen stage; then examples/s with 256^2 patches (the paper's), and the peak RSS of a
   fresh process that streams 2000 random sr examples, and of one that runs the coarsen stage.
   Target: under 2 GB each.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def study_of(config: str = "config/config.yaml"):
    import yaml

    from flex.config.load import load_study

    return load_study(yaml.safe_load((ROOT / config).read_text()), ROOT / "config/schema.yaml")


def default_examples(results: Path, task: str, examples: int):
    from flex import paths
    from flex.data.examples import TaskExamples, TrajectoryFiles
    from flex.data.splits import trajectories
    from flex.data.statistics import read_statistics

    study = study_of()
    allowed = trajectories(study.reynolds_numbers, study.seeds, "train")
    root = results.parent  # the paths of flex.paths start with results/
    files = [TrajectoryFiles(t, root / paths.simulation_file(t.reynolds_number, t.seed),
                             root / paths.coarse_file(t.reynolds_number, t.seed))
             for t in allowed]  # fmt: skip
    stats = read_statistics(root / paths.STATISTICS)
    return TaskExamples(task, files, "train", allowed, patch_size=study.data.patch(task),
                        normalisation=stats["vorticity"], reynolds_scale=study.data.reynolds_scale,
                        examples_per_epoch=examples)  # fmt: skip


def loader_rate(dataset, workers: int, batch: int = 8) -> float:
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch, num_workers=workers)
    start, count = time.perf_counter(), 0
    for item in loader:
        count += item["input"].shape[0]
    return count / (time.perf_counter() - start)


def consumer_rate(channels: int, patch: int, batch: int = 8, steps: int = 20):
    """Examples/s of the default training step (FLEX tiny, one thread) and its parameter count."""
    from flex.diffusion.schedule import CosineLogSNR
    from flex.kinds import MODEL_KINDS
    from flex.models import build_model, parameter_count, preset
    from flex.train.objectives import batch_loss
    from flex.train.optim import Lion

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = build_model(preset("flex", "tiny", channels, patch))
    optimiser = Lion(net.parameters(), lr=2e-4, betas=(0.9, 0.98))
    field = (batch, 1, patch, patch)
    data = {"input": torch.randn(batch, channels, patch, patch), "reynolds": torch.rand(batch),
            "base": torch.randn(field), "target": torch.randn(field)}  # fmt: skip
    for step in range(steps + 3):
        if step == 3:
            start = time.perf_counter()
        loss = batch_loss(net, data, MODEL_KINDS["flex"], CosineLogSNR(), "l1")
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    rate = steps * batch / (time.perf_counter() - start)
    torch.set_num_threads(threads)
    return rate, parameter_count(net)


def write_big_file(path: Path, grid: int, snapshots: int) -> None:
    from flex.io.netcdf import FieldWriter
    from flex.io.provenance import provenance_attrs

    attrs = {name: {"units": "1", "long_name": name} for name in ("vorticity", "u", "v")}
    coords = np.arange(grid) * 2 * np.pi / grid
    rng = np.random.default_rng(0)
    with FieldWriter(path, coords, coords, attrs, tile=256) as writer:
        for t in range(snapshots):
            field = rng.standard_normal((1, grid, grid), dtype=np.float32)
            writer.append([float(t)], {"vorticity": field, "u": field, "v": field})
        writer.finish(provenance_attrs("benchmark", {}, reynolds_number=16000.0, seed=2150))


def peak_rss_of(code: str) -> float:
    wrapped = code + "\nimport resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    done = subprocess.run([sys.executable, "-c", wrapped], capture_output=True, text=True, check=True,
                          cwd=ROOT)  # fmt: skip
    return int(done.stdout.strip().splitlines()[-1]) / 1024


def big_file_part(big: Path) -> None:
    grid, snapshots = 2048, 170  # 170 x 3 x 2048^2 x 4 B = 8.6 GB
    if not big.exists():
        start = time.perf_counter()
        write_big_file(big, grid, snapshots)
        print(
            f"wrote {big} ({big.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - start:.0f} s"
        )
    coarse = big.with_name(big.stem + "_coarse.nc")
    code = (f"from flex.coarsen.run import run; from flex.config import CoarsenConfig, "
            f"CoarsenExecution, CoarsenJob; run(CoarsenJob(CoarsenConfig('subsample', 8)), "
            f"CoarsenExecution(4), {str(big)!r}, {str(coarse)!r})")  # fmt: skip
    start = time.perf_counter()
    rss = peak_rss_of(code)
    print(f"coarsen stage on {big.stat().st_size / 1e9:.1f} GB: {time.perf_counter() - start:.0f} s, "
          f"peak RSS {rss:.0f} MB")  # fmt: skip
    setup = f"""
import sys; sys.path.insert(0, {str(ROOT)!r})
from pathlib import Path
from flex.data.examples import TaskExamples, TrajectoryFiles
from flex.data.splits import Trajectory
t = Trajectory(16000.0, 2150, "train")
examples = TaskExamples("sr", [TrajectoryFiles(t, Path({str(big)!r}), Path({str(coarse)!r}))],
                        "train", [t], patch_size=256, normalisation=(0.0, 1.0),
                        reynolds_scale=40000.0, examples_per_epoch=2000)
"""
    rss = peak_rss_of(setup + "\nfor i in range(len(examples)): examples[i]")
    print(
        f"peak RSS streaming 2000 sr examples (256^2) from the {snapshots}-snapshot file: {rss:.0f} MB"
    )
    namespace: dict = {}
    exec(setup, namespace)  # the same data set in this process, for the rate
    for workers in (0, 2):
        rate = loader_rate(namespace["examples"], workers)
        print(f"2048^2 file, 256^2 sr patches, {workers} workers: {rate:.0f} examples/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    parser.add_argument("--big", type=Path, help="where to write the 2048^2 file (> 8 GB)")
    parser.add_argument("--examples", type=int, default=2000)
    args = parser.parse_args()
    torch.set_num_threads(2)
    study = study_of()
    rows = []
    for task, channels in (("sr", 1), ("fc", 2)):
        patch = study.data.patch(task)
        examples = default_examples(args.results, task, args.examples)
        rates = {w: loader_rate(examples, w) for w in (0, 2)}
        consumer, parameters = consumer_rate(channels, patch)
        rows.append((task, rates[0], rates[2], consumer, rates[0] / consumer, parameters, patch))
    print("default config, batch 8")
    print("| task | patch | loader ex/s (0 workers) | loader ex/s (2 workers) | FLEX tiny training ex/s "
          "| ratio (0 workers) | parameters |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for task, *rates, parameters, patch in rows:
        row = "| {} | {}^2 | {:.0f} | {:.0f} | {:.1f} | {:.1f} | {:.2f}M |"
        print(row.format(task, patch, *rates, parameters / 1e6))
    if args.big:
        big_file_part(args.big)
    print(json.dumps({"torch_threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
