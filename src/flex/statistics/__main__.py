"""`python -m flex.statistics --job JSON --execution JSON --output FILE INPUT...`: the
normalisation statistics of the training simulations."""

from __future__ import annotations

import sys
from pathlib import Path

from flex.command import parse_json, run_stage, stage_parser
from flex.config import CoarsenExecution, StatisticsJob


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser("flex training_statistics", __doc__)
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("inputs", nargs="+", type=Path)

    def handler(args) -> None:
        from flex.statistics.run import run

        run(parse_json(args.job, StatisticsJob, "job"),
            parse_json(args.execution, CoarsenExecution, "execution"), args.inputs, args.output)  # fmt: skip

    return run_stage(parser, handler, argv)


if __name__ == "__main__":
    sys.exit(main())
