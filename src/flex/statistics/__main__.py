"""`python -m flex.statistics --job JSON --execution JSON --output FILE INPUT...`: the
normalisation statistics of the training simulations."""

from __future__ import annotations

import sys

from flex.command import file_stage
from flex.config import CoarsenExecution, StatisticsJob


def main(argv: list[str] | None = None) -> int:
    from flex.statistics.run import run

    return file_stage("flex training_statistics", __doc__, StatisticsJob, CoarsenExecution, run,
                      argv, many_inputs=True)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
