"""The command line of a stage: `python -m flex.<stage> --job JSON [--execution JSON] ...`.

Each stage's `__main__` declares its own arguments (its inputs and outputs, as the rule gives
them) and hands a handler to `run_stage`, which parses the arguments, sets up logging and reports
a known failure (a bad job, a blow-up, an unreadable input) as one line on stderr with exit
status 1, without a traceback. `flex <stage> ...` (flex.cli) runs the same functions.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from flex.config import ConfigError, build
from flex.errors import StageFailure

T = TypeVar("T")


def stage_parser(prog: str, description: str, execution: bool = True) -> argparse.ArgumentParser:
    """A parser with `--job` (the job's parameters) and, if the stage has any, `--execution`."""
    parser = argparse.ArgumentParser(prog=prog, description=description.strip().splitlines()[0])
    parser.add_argument("--job", required=True, help="the job's parameters as JSON")
    if execution:
        parser.add_argument("--execution", required=True,
                            help="the stage's execution settings as JSON (config: execution)")  # fmt: skip
    return parser


def parse_json(text: str, cls: type[T], name: str) -> T:
    """`cls` built from the JSON `text`, or a ConfigError naming the argument and the problem."""
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError([f"--{name} is not valid JSON ({error})"]) from None
    return build(cls, data, path=name)


def run_stage(parser: argparse.ArgumentParser, handler: Callable[[argparse.Namespace], None],
              argv: list[str] | None = None) -> int:  # fmt: skip
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip
    try:
        handler(args)
    except (ConfigError, StageFailure) as error:
        print(f"{parser.prog}: {error}", file=sys.stderr)
        return 1
    return 0


def set_torch_threads(threads: int | None) -> None:
    """Cap torch's CPU threads (the rule's `threads`); None keeps torch's default."""
    if threads:
        import torch

        torch.set_num_threads(threads)


def file_stage(prog: str, description: str, job_cls: type, execution_cls: type,
               run: Callable[..., Any], argv: list[str] | None = None,
               many_inputs: bool = False) -> int:  # fmt: skip
    """The command of a stage that turns input file(s) into one output file:
    `--job JSON --execution JSON (--input FILE | INPUT...) --output FILE` ->
    `run(job, execution, input(s), output)`."""
    parser = stage_parser(prog, description)
    if many_inputs:
        parser.add_argument("inputs", nargs="+", type=Path)
    else:
        parser.add_argument("--input", required=True, type=Path)
    parser.add_argument("--output", required=True, type=Path)

    def handler(args) -> None:
        run(parse_json(args.job, job_cls, "job"),
            parse_json(args.execution, execution_cls, "execution"),
            args.inputs if many_inputs else args.input, args.output)  # fmt: skip

    return run_stage(parser, handler, argv)
