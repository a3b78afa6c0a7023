"""The `flex` command: a thin layer over each stage's `run` function.

    flex check-config config/config.yaml            validate a study configuration
    flex simulate --job '<json>' --output FILE       one trajectory (Snakemake passes the job)

Known failures (a bad config, a blow-up) print one clear message and exit with status 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from flex.config import ConfigError, SimulationJob, build, load_study_file
from flex.errors import StageFailure

DEFAULT_SCHEMA = Path("config/schema.yaml")


def _check_config(args: argparse.Namespace) -> None:
    study = load_study_file(args.config, args.schema)
    print(f"{args.config}: valid ({study.study.name})")


def _simulate(args: argparse.Namespace) -> None:
    from flex.simulate.run import run  # jax is imported only by the stages that use it

    job = build(SimulationJob, json.loads(args.job), path="job")
    run(job, args.output, progress=not args.no_progress)


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="flex", description=__doc__.splitlines()[0])
    commands = main.add_subparsers(dest="command", required=True)

    check = commands.add_parser("check-config", help="validate a study configuration file")
    check.add_argument("config", type=Path)
    check.add_argument("--schema", type=Path, default=DEFAULT_SCHEMA)
    check.set_defaults(handler=_check_config)

    simulate = commands.add_parser("simulate", help="simulate one trajectory")
    simulate.add_argument("--job", required=True, help="SimulationJob as JSON")
    simulate.add_argument("--output", required=True, type=Path)
    simulate.add_argument("--no-progress", action="store_true")
    simulate.set_defaults(handler=_simulate)
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        args.handler(args)
    except (ConfigError, StageFailure) as error:
        print(f"flex {args.command}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
