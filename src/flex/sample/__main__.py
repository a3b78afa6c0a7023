"""`python -m flex.sample --job JSON --execution JSON --fine FILE [--coarse FILE] [--model FILE]
--output FILE`: one model on one test trajectory."""

from __future__ import annotations

import sys
from pathlib import Path

from flex.command import parse_json, run_stage, set_torch_threads, stage_parser
from flex.config import SampleExecution, SampleJob


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser("flex sample", __doc__)
    parser.add_argument("--fine", required=True, type=Path, help="the simulation file")
    parser.add_argument("--coarse", type=Path, help="its coarse file (super-resolution)")
    parser.add_argument("--model", type=Path, help="model.pt (none for bicubic / persistence)")
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--threads", type=int, help="CPU threads of torch (default: all)")
    parser.add_argument("--no-progress", action="store_true")

    def handler(args) -> None:
        from flex.sample.run import run

        set_torch_threads(args.threads)
        run(parse_json(args.job, SampleJob, "job"),
            parse_json(args.execution, SampleExecution, "execution"), args.fine, args.coarse,
            args.model, args.output, progress=not args.no_progress)  # fmt: skip

    return run_stage(parser, handler, argv)


if __name__ == "__main__":
    sys.exit(main())
