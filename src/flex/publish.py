"""Small copies of a study's figures and tables for the README (`docs/`).

    python -m flex.publish --results results --output docs [--max-width 900]

Each `results/figures/*.png` is scaled down to at most `--max-width` pixels wide (Lanczos
resampling, aspect ratio kept) and saved as an optimised PNG under `docs/figures/`; the Markdown
tables `results/tables/*.md` are copied to `docs/tables/`. Only pixels and text are copied: the
figures themselves come from the figures stage, so `docs/` is regenerated after a run by this one
command. Files are replaced atomically (written beside, then renamed).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from PIL import Image

from flex.io.netcdf import atomic_output

DEFAULT_MAX_WIDTH = 900
"""Pixels: wide enough to read the panels on GitHub, small enough to commit (~100 kB)."""


def shrink_figure(source: Path, destination: Path, max_width: int) -> tuple[int, int]:
    """Write `source` scaled to at most `max_width` pixels wide; return the new (width, height)."""
    with Image.open(source) as image:
        image = image.convert("RGBA") if image.mode not in ("RGB", "RGBA") else image.copy()
    if image.width > max_width:
        height = round(image.height * max_width / image.width)
        image = image.resize((max_width, height), Image.Resampling.LANCZOS)
    with atomic_output(destination) as temporary:
        image.save(temporary, format="PNG", optimize=True)
    return image.size


def publish(results: Path, output: Path, max_width: int = DEFAULT_MAX_WIDTH) -> list[Path]:
    """Copy the figures (scaled) and Markdown tables of `results` into `output`; return them."""
    figures = sorted((results / "figures").glob("*.png"))
    if not figures:
        raise FileNotFoundError(
            f"no figures in {results / 'figures'}: run the study first (snakemake --cores all)"
        )
    written = []
    for figure in figures:
        destination = output / "figures" / figure.name
        shrink_figure(figure, destination, max_width)
        written.append(destination)
    for table in sorted((results / "tables").glob("*.md")):
        destination = output / "tables" / table.name
        with atomic_output(destination) as temporary:
            shutil.copyfile(table, temporary)
        written.append(destination)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flex.publish", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--output", type=Path, default=Path("docs"))
    parser.add_argument("--max-width", type=int, default=DEFAULT_MAX_WIDTH,
                        help=f"pixels (default {DEFAULT_MAX_WIDTH})")  # fmt: skip
    args = parser.parse_args(argv)
    if args.max_width < 16:
        parser.error(f"--max-width {args.max_width}: expected at least 16 pixels")
    try:
        written = publish(args.results, args.output, args.max_width)
    except FileNotFoundError as error:
        print(f"flex publish: {error}", file=sys.stderr)
        return 1
    total = sum(path.stat().st_size for path in written)
    print(f"wrote {len(written)} files to {args.output} ({total / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
