"""Peak memory of the evaluate stage on a sample file larger than 8 GB.

    python bench/evaluate_memory.py --file /path/on/disk/big_sample.nc [--samples 4200]

Writes (once, kept for reruns) a super-resolution sample file of the data contract: 256^2 patches,
8 members, `--samples` samples of random fields (only memory and time are measured), then runs
the real evaluate stage on it in a fresh process and reports its peak RSS (target < 2 GB) and
wall time.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def write_sample_file(path: Path, samples: int, members: int = 8, size: int = 256) -> None:
    from flex import dims
    from flex.io.netcdf import RecordWriter
    from flex.io.provenance import provenance_attrs

    field = {"units": "1", "long_name": "vorticity"}
    variables = {
        "prediction": ((dims.SAMPLE, dims.MEMBER, dims.Y, dims.X), "f4", field),
        "target": ((dims.SAMPLE, dims.Y, dims.X), "f4", field),
    }
    rng = np.random.default_rng(0)
    sizes = {dims.MEMBER: members, dims.Y: size, dims.X: size}
    with RecordWriter(path, dims.SAMPLE, sizes, variables) as writer:
        for _ in range(0, samples, 50):
            truth = rng.standard_normal((50, size, size), dtype=np.float32)
            noise = rng.standard_normal((50, members, size, size), dtype=np.float32)
            writer.append({"prediction": truth[:, None] + noise, "target": truth})
        writer.finish(provenance_attrs("benchmark", {}, task="sr", model="flex",
                                       variable="vorticity", reynolds_number=1.0, seed=0,
                                       split="in_distribution", held_out=False,
                                       sampling_steps=2, ensemble_size=members))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, required=True)
    parser.add_argument("--samples", type=int, default=4200)
    args = parser.parse_args()
    if not args.file.exists():
        start = time.perf_counter()
        write_sample_file(args.file, args.samples)
        print(f"wrote {args.file} ({args.file.stat().st_size / 1e9:.2f} GB) in "
              f"{time.perf_counter() - start:.0f} s")  # fmt: skip
    output = args.file.with_name(args.file.stem + "_evaluation.nc")
    code = (f"import sys; sys.path.insert(0, {str(ROOT / 'src')!r})\n"
            "from flex.config import EvaluateConfig, EvaluateExecution\n"
            "from flex.evaluate.run import run\n"
            f"run(EvaluateConfig(rank_stride=2), EvaluateExecution(samples_per_chunk=16), "
            f"{str(args.file)!r}, "
            f"{str(output)!r})\n"
            "import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    rss = int(done.stdout.strip().splitlines()[-1]) / 1024
    print(f"evaluate stage on {args.file.stat().st_size / 1e9:.2f} GB: "
          f"{time.perf_counter() - start:.0f} s, peak RSS {rss:.0f} MB (target < 2 GB)")  # fmt: skip


if __name__ == "__main__":
    main()
