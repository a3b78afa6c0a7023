"""Tables from the summary: mean over Reynolds numbers per task, model and split, as CSV, Markdown
and LaTeX (results/tables/{task}.{csv,md,tex})."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import xarray as xr

from flex.io.netcdf import atomic_output

COLUMNS = ("rfne", "crps", "ssim", "spread_skill_ratio")
HEADER = ("model", "split", *COLUMNS)
"""The columns of a task's table."""


def table_rows(summary: xr.Dataset, task: str) -> list[dict]:
    rows = []
    keep = (summary.task == task) & (summary.study == "main") & (summary.variable == "vorticity")
    if task == "fc":
        keep = keep & (summary.lead == 1)
    table = summary.where(keep, drop=True)
    for model in sorted(set(table.model.values.tolist())):
        for split in ("in_distribution", "held_out"):
            part = table.where((table.model == model) & (table.split == split), drop=True)
            if part.sizes.get("row", 0) == 0:
                continue
            row = {"model": model, "split": split}
            for column in COLUMNS:
                values = part[column].values.astype(float)
                values = values[np.isfinite(values)]
                row[column] = float(values.mean()) if values.size else float("nan")
            rows.append(row)
    return rows


def write_tables(rows: list[dict], paths: list[Path], caption: str,
                 header: tuple[str, ...] = HEADER) -> list[Path]:  # fmt: skip
    """Write the table (`header` columns of `rows`) to each of `paths` in the format of its
    suffix (csv, md, tex): numbers to 4 decimals (integers as they are), NaN as `--`."""

    def cell(value):
        if isinstance(value, str):
            return value
        if isinstance(value, int | np.integer):
            return str(value)
        return "--" if np.isnan(value) else f"{value:.4f}"

    lines = [[cell(r[h]) for h in header] for r in rows]
    align = "".join("l" if rows and isinstance(rows[0][h], str) else "r" for h in header)
    comma_separated = io.StringIO()
    csv.writer(comma_separated, lineterminator="\n").writerows([header, *lines])
    md_rows = ["| " + " | ".join(line) + " |" for line in lines]
    md = "\n".join([f"<!-- {caption} -->", "| " + " | ".join(header) + " |",
                    "|" + "---|" * len(header), *md_rows])  # fmt: skip
    tex = "\n".join([
        "\\begin{table}", f"\\caption{{{caption}}}", f"\\begin{{tabular}}{{{align}}}",
        " & ".join(h.replace("_", "\\_") for h in header) + " \\\\ \\hline",
        *(" & ".join(c.replace("_", "\\_") for c in line) + " \\\\" for line in lines),
        "\\end{tabular}", "\\end{table}",
    ])  # fmt: skip
    texts = {".csv": comma_separated.getvalue(), ".md": md + "\n", ".tex": tex + "\n"}
    for path in paths:
        with atomic_output(path) as tmp:
            tmp.write_text(texts[path.suffix])
    return list(paths)
