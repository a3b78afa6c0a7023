"""`python -m flex.coarsen --job JSON --execution JSON --input FILE --output FILE`."""

from __future__ import annotations

import sys

from flex.command import file_stage
from flex.config import CoarsenExecution, CoarsenJob


def main(argv: list[str] | None = None) -> int:
    from flex.coarsen.run import run

    return file_stage("flex coarsen", __doc__, CoarsenJob, CoarsenExecution, run, argv)


if __name__ == "__main__":
    sys.exit(main())
