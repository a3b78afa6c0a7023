"""`python -m flex.summary --output-csv FILE --output-nc FILE INPUT...`: one row per evaluated
file and lead."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from flex.command import run_stage


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="flex summary", description=__doc__.splitlines()[0])
    parser.add_argument("--output-csv", required=True, type=Path)
    parser.add_argument("--output-nc", required=True, type=Path)
    parser.add_argument("inputs", nargs="+", type=Path, help="evaluation files")

    def handler(args) -> None:
        from flex.summary.run import run

        run(args.inputs, args.output_csv, args.output_nc)

    return run_stage(parser, handler, argv)


if __name__ == "__main__":
    sys.exit(main())
