"""`python -m flex.evaluate --job JSON --execution JSON --input FILE --output FILE`: the metrics
of one sample file."""

from __future__ import annotations

import sys

from flex.command import file_stage
from flex.config import EvaluateConfig, EvaluateExecution


def main(argv: list[str] | None = None) -> int:
    from flex.evaluate.run import run

    return file_stage("flex evaluate", __doc__, EvaluateConfig, EvaluateExecution, run, argv)


if __name__ == "__main__":
    sys.exit(main())
