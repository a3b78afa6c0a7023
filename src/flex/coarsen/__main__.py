"""`python -m flex.coarsen --job JSON --execution JSON --input FILE --output FILE`."""

from __future__ import annotations

import sys
from pathlib import Path

from flex.command import parse_json, run_stage, stage_parser
from flex.config import CoarsenExecution, CoarsenJob


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser("flex coarsen", __doc__)
    parser.add_argument("--input", required=True, type=Path)
    parser.add_argument("--output", required=True, type=Path)

    def handler(args) -> None:
        from flex.coarsen.run import run

        run(parse_json(args.job, CoarsenJob, "job"),
            parse_json(args.execution, CoarsenExecution, "execution"), args.input, args.output)  # fmt: skip

    return run_stage(parser, handler, argv)


if __name__ == "__main__":
    sys.exit(main())
