"""`python -m flex.simulate --job JSON --execution JSON --output FILE`: one trajectory."""

from __future__ import annotations

import sys
from pathlib import Path

from flex.command import parse_json, run_stage, stage_parser
from flex.config import SimulateExecution, SimulationJob


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser("flex simulate", __doc__)
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--no-progress", action="store_true")

    def handler(args) -> None:
        from flex.simulate.run import run  # jax is imported only when a job runs

        run(parse_json(args.job, SimulationJob, "job"),
            parse_json(args.execution, SimulateExecution, "execution"), args.output,
            progress=not args.no_progress)  # fmt: skip

    return run_stage(parser, handler, argv)


if __name__ == "__main__":
    sys.exit(main())
