"""The `flex` command: checks a configuration, and runs any stage as the workflow does.

    flex check-config config/config.yaml           validate a study configuration
    flex plan config/paper.yaml                    jobs per rule and output sizes on disk
    flex simulate --job JSON --execution JSON --output FILE
    flex coarsen | training_statistics | train | sample | evaluate | summary | figures  ...

`flex <rule> ARGS` is `python -m <the rule's module> ARGS` (see `flex <rule> --help`), the module
that the workflow's rule of that name runs (flex.plan.ENTRY_MODULES). Known failures (a bad
config, a blow-up) print one clear message and exit with status 1.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from flex.command import run_stage
from flex.plan import ENTRY_MODULES


def check_config(argv: list[str]) -> int:
    from flex.config.load import DEFAULT_STUDY, SCHEMA, load_study_file

    parser = argparse.ArgumentParser(
        prog="flex check-config",
        description="validate a study configuration as `snakemake --configfile FILE` reads it "
        "(merged over the default study), before any job starts",
    )  # fmt: skip
    parser.add_argument("config", type=Path)
    parser.add_argument("--schema", type=Path, default=SCHEMA)
    parser.add_argument("--default", type=Path, default=DEFAULT_STUDY,
                        help="the study the file is merged over (Snakemake's configfile)")  # fmt: skip

    def handler(args) -> None:
        study, inherited = load_study_file(args.config, args.schema, args.default)
        print(f"{args.config}: valid ({study.study.name})")
        if inherited:
            print(f"{len(inherited)} value(s) come from {args.default}, which it is merged over: "
                  + ", ".join(inherited))  # fmt: skip

    return run_stage(parser, handler, argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = ["check-config", "plan", *ENTRY_MODULES]
    if not argv or argv[0] not in commands:
        print(__doc__.strip(), file=sys.stderr)
        print(f"\nflex: choose one of {', '.join(commands)}", file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    if command == "check-config":
        return check_config(rest)
    if command == "plan":
        from flex.footprint import main as plan

        return plan(rest)
    return importlib.import_module(ENTRY_MODULES[command]).main(rest)


if __name__ == "__main__":
    sys.exit(main())
