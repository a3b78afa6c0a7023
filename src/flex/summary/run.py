"""results/evaluate/summary.csv (and .nc): one row per evaluated file and lead.

Columns: task, model, variable, reynolds_number, split (`in_distribution` or `held_out`, or
`held_out_boundary` for a wall-bounded trajectory), study (`main`, `steps` for the sampling-steps
and calibration study, `boundary` for the held-out boundaries), all read from the evaluation
file's attributes (never from its path), sampling_steps, eta (the sampler's; 0 deterministic),
ensemble_size, lead (0 for super-resolution), then each metric: the mean over samples of the
per-sample scores (rfne, mse, mae, psnr, ssim, crps, spread, skill, spread_skill_ratio; forecasts
also pearson, rfne_member_feedback, crps_member_feedback, spread_skill_ratio_member_feedback) and
the pooled ones (rfne_pooled,
spread_skill_ratio_pooled, rank_flatness, pull_mean, pull_std; forecasts also
spread_skill_ratio_pooled_member_feedback).

A wall-bounded trajectory also gets a row per region of its evaluation patches, split
`held_out_boundary_wall` (patches that touch a wall) and `held_out_boundary_interior` (the
others), with the per-sample scores averaged over the region (pooled scores are not split).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import xarray as xr

from flex import dims
from flex.config import BOUNDARY_SPLIT, WALL_REGIONS
from flex.errors import StageFailure
from flex.io.netcdf import atomic_output, open_input, reading, write_dataset
from flex.io.provenance import provenance_attrs

KEYS = ("task", "model", "variable", "reynolds_number", "split", "study", "sampling_steps", "eta",
        "ensemble_size", "lead")  # fmt: skip
METRICS = ("rfne", "rfne_pooled", "mse", "mae", "psnr", "ssim", "crps", "spread", "skill",
           "spread_skill_ratio", "spread_skill_ratio_pooled", "rank_flatness", "pull_mean",
           "pull_std", "pearson", "rfne_member_feedback", "crps_member_feedback",
           "spread_skill_ratio_member_feedback", "spread_skill_ratio_pooled_member_feedback")  # fmt: skip


def rows_of(path: Path) -> list[dict]:
    with open_input(path) as ds, reading(path):
        attrs = ds.attrs
        missing = [key for key in KEYS[:-1] if key not in attrs]  # lead is a coordinate
        if missing:
            raise StageFailure(f"evaluation file {path} lacks the attribute(s) {missing}: it was "
                               "made by an older version; delete it and rerun the workflow")  # fmt: skip
        regions = {attrs["split"]: None}
        if attrs["split"] == BOUNDARY_SPLIT and "touches_wall" in ds:
            walls = ds["touches_wall"].values.astype(bool)
            regions.update({f"{BOUNDARY_SPLIT}_{region}": walls == touching
                            for region, touching in WALL_REGIONS.items()
                            if (walls == touching).any()})  # fmt: skip
        leads = ds["lead"].values if "lead" in ds.dims else [0]
        rows = []
        for split, chosen in regions.items():
            for index, lead in enumerate(leads):
                rows.append(_row(ds, attrs, split, chosen, index, lead))
    return rows


def _row(ds, attrs, split: str, chosen, index: int, lead) -> dict:
    """One row: each metric's mean over the samples (`chosen` of them, when given) at a lead;
    pooled metrics (no sample dimension) only for all samples."""
    row = {
        "task": attrs["task"], "model": attrs["model"], "variable": attrs["variable"],
        "reynolds_number": float(attrs["reynolds_number"]), "split": split,
        "study": attrs["study"], "sampling_steps": int(attrs["sampling_steps"]),
        "eta": float(attrs["eta"]),
        "ensemble_size": int(attrs["ensemble_size"]), "lead": int(lead),
    }  # fmt: skip
    for name in METRICS:
        per_sample = name in ds and dims.SAMPLE in ds[name].dims
        if name not in ds or (chosen is not None and not per_sample):
            row[name] = np.nan
            continue
        values = ds[name].values
        if "lead" in ds[name].dims:
            values = np.take(values, index, axis=ds[name].dims.index("lead"))
        if chosen is not None:
            values = values[chosen]
        finite = np.asarray(values, dtype=float)[np.isfinite(values)]
        row[name] = float(finite.mean()) if finite.size else np.nan
    return row


def run(inputs: list[Path], output_csv: Path, output_nc: Path) -> Path:
    rows = [row for path in sorted(map(Path, inputs)) for row in rows_of(path)]
    rows.sort(key=lambda r: tuple(str(r[k]) if isinstance(r[k], str) else r[k] for k in KEYS))
    output_csv = Path(output_csv)
    with atomic_output(output_csv) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*KEYS, *METRICS])
        writer.writeheader()
        writer.writerows(rows)
    table = xr.Dataset({name: ("row", [r[name] for r in rows], {"units": "1", "long_name": name})
                        for name in (*KEYS, *METRICS)})  # fmt: skip
    write_dataset(table, output_nc,
                  provenance_attrs("summary of the evaluation", {"inputs": len(inputs)}))  # fmt: skip
    return output_csv
