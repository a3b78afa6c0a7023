"""`python -m flex.train --job JSON --execution JSON --train-fine F... --validation-fine F...
[--train-coarse F... --validation-coarse F...] [--init-model F] --statistics F --model-output F
--history-output F --job-output F [--ranks-from-slurm]`: one (task, model); `--init-model`: the
trained model file to fine-tune (the job's `init_from`). Several ranks (`flex.train.launch`):
under torchrun, or as srun tasks with --ranks-from-slurm."""

from __future__ import annotations

import sys
from pathlib import Path

from flex.command import parse_json, run_stage, set_torch_threads, stage_parser
from flex.config import TrainExecution, TrainJob


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser("flex train", __doc__)
    for name in ("train-fine", "validation-fine"):
        parser.add_argument(f"--{name}", required=True, nargs="+", type=Path)
    for name in ("train-coarse", "validation-coarse"):
        parser.add_argument(f"--{name}", nargs="+", type=Path, help="super-resolution only")
    parser.add_argument("--init-model", type=Path,
                        help="fine-tuning: the model file whose weights the job starts from")  # fmt: skip
    parser.add_argument("--statistics", required=True, type=Path)
    for name in ("model", "history", "job"):
        parser.add_argument(f"--{name}-output", required=True, type=Path)
    parser.add_argument("--threads", type=int, help="CPU threads of torch (default: all)")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--ranks-from-slurm", action="store_true",
                        help="one rank per Slurm task: rank, ranks and rendezvous from srun")  # fmt: skip

    def handler(args) -> None:
        from flex.train.run import TrainFiles, TrainOutputs, run

        set_torch_threads(args.threads)
        inputs = TrainFiles(args.train_fine, args.validation_fine, args.statistics,
                            args.train_coarse, args.validation_coarse, args.init_model)  # fmt: skip
        outputs = TrainOutputs(args.model_output, args.history_output, args.job_output)
        run(parse_json(args.job, TrainJob, "job"),
            parse_json(args.execution, TrainExecution, "execution"), inputs, outputs,
            progress=not args.no_progress, ranks_from_slurm=args.ranks_from_slurm)  # fmt: skip

    return run_stage(parser, handler, argv)


if __name__ == "__main__":
    sys.exit(main())
