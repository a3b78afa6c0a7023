"""`python -m flex.evaluate --job JSON --execution JSON --input FILE --output FILE`: the metrics
of one sample file."""

from __future__ import annotations

import sys
from pathlib import Path

from flex.command import parse_json, run_stage, stage_parser
from flex.config import EvaluateConfig, EvaluateExecution


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser("flex evaluate", __doc__)
    parser.add_argument("--input", required=True, type=Path)
    parser.add_argument("--output", required=True, type=Path)

    def handler(args) -> None:
        from flex.evaluate.run import run

        run(parse_json(args.job, EvaluateConfig, "job"),
            parse_json(args.execution, EvaluateExecution, "execution"), args.input, args.output)  # fmt: skip

    return run_stage(parser, handler, argv)


if __name__ == "__main__":
    sys.exit(main())
