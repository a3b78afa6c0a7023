"""The `flex` command: a thin layer over each stage's `run` function.

    flex check-config config/config.yaml            validate a study configuration
    flex simulate --job '<json>' --output FILE       one trajectory (Snakemake passes the job)
    flex coarsen --job '<json>' --input FILE --output FILE
    flex statistics --job '<json>' --output FILE INPUT...
    flex train --job '<json>' --results DIR --output-dir DIR
    flex sample --job '<json>' --results DIR [--model FILE] --output FILE
    flex evaluate --job '<json>' --input FILE --output FILE
    flex summarise --output results/evaluate/summary.csv INPUT...
    flex figures --job '<json>' --results results --figures DIR --tables DIR

Known failures (a bad config, a blow-up) print one clear message and exit with status 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from flex.config import (
    CoarsenJob,
    ConfigError,
    EvaluateConfig,
    FiguresConfig,
    SampleJob,
    SimulationJob,
    StatisticsJob,
    TrainJob,
    build,
    load_study_file,
)
from flex.errors import StageFailure

DEFAULT_SCHEMA = Path("config/schema.yaml")


def _check_config(args: argparse.Namespace) -> None:
    study = load_study_file(args.config, args.schema)
    print(f"{args.config}: valid ({study.study.name})")


def _simulate(args: argparse.Namespace) -> None:
    from flex.simulate.run import run  # jax is imported only by the stages that use it

    job = build(SimulationJob, json.loads(args.job), path="job")
    run(job, args.output, progress=not args.no_progress)


def _coarsen(args: argparse.Namespace) -> None:
    from flex.coarsen.run import run

    job = build(CoarsenJob, json.loads(args.job), path="job")
    run(job.coarsen, args.input, args.output)


def _statistics(args: argparse.Namespace) -> None:
    from flex.data.statistics import run

    job = build(StatisticsJob, json.loads(args.job), path="job")
    run(job, args.inputs, args.output)


def _train(args: argparse.Namespace) -> None:
    from flex.train.run import run

    job = build(TrainJob, json.loads(args.job), path="job")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    run(job, args.results, args.output_dir, progress=not args.no_progress)


def _sample(args: argparse.Namespace) -> None:
    from flex.sample.run import run

    job = build(SampleJob, json.loads(args.job), path="job")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    run(job, args.results, args.model, args.output, progress=not args.no_progress)


def _evaluate(args: argparse.Namespace) -> None:
    from flex.evaluate.run import run

    run(build(EvaluateConfig, json.loads(args.job), path="job"), args.input, args.output)


def _summarise(args: argparse.Namespace) -> None:
    from flex.evaluate.summary import run

    run(args.inputs, args.output)


def _figures(args: argparse.Namespace) -> None:
    from flex.figures.run import run

    job = build(FiguresConfig, json.loads(args.job), path="job")
    run(job, args.results, args.figures, args.tables)


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

    coarsen = commands.add_parser("coarsen", help="coarse-grain one trajectory")
    coarsen.add_argument("--job", required=True, help="CoarsenJob as JSON")
    coarsen.add_argument("--input", required=True, type=Path)
    coarsen.add_argument("--output", required=True, type=Path)
    coarsen.set_defaults(handler=_coarsen)

    statistics = commands.add_parser("statistics", help="normalisation of the training split")
    statistics.add_argument("--job", required=True, help="StatisticsJob as JSON")
    statistics.add_argument("--output", required=True, type=Path)
    statistics.add_argument("inputs", nargs="+", type=Path)
    statistics.set_defaults(handler=_statistics)

    train = commands.add_parser("train", help="train one (task, model)")
    train.add_argument("--job", required=True, help="TrainJob as JSON")
    train.add_argument("--results", required=True, type=Path, help="the results/ folder")
    train.add_argument("--output-dir", required=True, type=Path)
    train.add_argument("--threads", type=int, help="CPU threads of torch (default: all)")
    train.add_argument("--no-progress", action="store_true")
    train.set_defaults(handler=_train)

    sample = commands.add_parser("sample", help="ensembles of one model on one test trajectory")
    sample.add_argument("--job", required=True, help="SampleJob as JSON")
    sample.add_argument("--results", required=True, type=Path, help="the results/ folder")
    sample.add_argument("--model", type=Path, help="model.pt (none for bicubic / persistence)")
    sample.add_argument("--output", required=True, type=Path)
    sample.add_argument("--threads", type=int, help="CPU threads of torch (default: all)")
    sample.add_argument("--no-progress", action="store_true")
    sample.set_defaults(handler=_sample)

    evaluate = commands.add_parser("evaluate", help="metrics of one sample file")
    evaluate.add_argument("--job", required=True, help="EvaluateConfig as JSON")
    evaluate.add_argument("--input", required=True, type=Path)
    evaluate.add_argument("--output", required=True, type=Path)
    evaluate.set_defaults(handler=_evaluate)

    summarise = commands.add_parser("summarise", help="summary.csv of evaluation files")
    summarise.add_argument("--output", required=True, type=Path)
    summarise.add_argument("inputs", nargs="+", type=Path)
    summarise.set_defaults(handler=_summarise)

    figures = commands.add_parser("figures", help="the paper's figures and tables")
    figures.add_argument("--job", required=True, help="FiguresConfig as JSON")
    figures.add_argument("--results", required=True, type=Path)
    figures.add_argument("--figures", required=True, type=Path)
    figures.add_argument("--tables", required=True, type=Path)
    figures.set_defaults(handler=_figures)
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
