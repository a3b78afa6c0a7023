"""`python -m flex.figures --job JSON --summary FILE --evaluations F... --samples F...
--outputs F...`: the figures and tables the study plan chose, from these inputs only."""

from __future__ import annotations

import sys
from pathlib import Path

from flex.command import parse_json, run_stage, stage_parser
from flex.config import FiguresJob


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser("flex figures", __doc__, execution=False)
    parser.add_argument("--summary", required=True, type=Path, help="summary.nc")
    parser.add_argument("--evaluations", required=True, nargs="+", type=Path)
    parser.add_argument("--samples", required=True, nargs="+", type=Path)
    parser.add_argument("--outputs", required=True, nargs="+", type=Path)

    def handler(args) -> None:
        from flex.figures.run import run

        run(parse_json(args.job, FiguresJob, "job"), args.summary, args.evaluations,
            args.samples, args.outputs)  # fmt: skip

    return run_stage(parser, handler, argv)


if __name__ == "__main__":
    sys.exit(main())
