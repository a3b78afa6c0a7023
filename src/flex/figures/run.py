"""The `figures` stage: results/figures/*.{png,pdf} and results/tables/*.{csv,md,tex}.

Everything is read from the NetCDF outputs (summary, evaluation and sample files); the labels
come from their attributes. FIGURES names every figure, for the workflow and the report.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import xarray as xr

from flex.config import FiguresConfig
from flex.figures import plots
from flex.figures.tables import table_rows, write_tables

log = logging.getLogger(__name__)

FIGURES = {
    "fig1_samples_sr": "Super-resolution sample: truth, input, bicubic, FLEX mean, spread, error.",
    "fig1_samples_fc": "Forecast sample (lead 1): truth, last frame, persistence, FLEX mean, spread, error.",
    "fig2_spectra_sr": "Energy spectra of super-resolved fields per Reynolds number, truth and models.",
    "fig2_spectra_fc": "Energy spectra of forecasts (lead 1) per Reynolds number, truth and models.",
    "fig3_errors_sr": "Super-resolution RFNE and CRPS against Reynolds number (hollow: held out).",
    "fig3_errors_fc": "Forecast (lead 1) RFNE and CRPS against Reynolds number (hollow: held out).",
    "fig4_calibration_sr": "FLEX super-resolution: spread against skill per sample; rank histogram.",
    "fig4_calibration_fc": "FLEX forecasts (lead 1): spread against skill per sample; rank histogram.",
    "fig5_forecast_leads": "Forecast RFNE and correlation against lead; mean vs member feedback.",
    "fig6_sampling_steps": "FLEX error and CRPS against the number of DDIM steps.",
    "fig7_residual_vs_raw": "Variance of the residual vs the raw target; error of flex vs flex_raw.",
    "fig8_velocity_zero_shot": "Super-resolution of vorticity and, zero-shot, of velocity u and v.",
}  # fmt: skip
TABLES = ("sr", "fc")


def _main_files(results: Path, stage: str, task: str, model: str) -> list[Path]:
    return sorted(p for p in (results / stage / task / model).glob("re*_seed*.nc")
                  if p.stem.split("_seed")[1].isdigit())  # fmt: skip


def _example(results: Path, task: str, reynolds: float | None) -> tuple[Path, Path]:
    files = _main_files(results, "sample", task, "flex")
    chosen = files[0]
    for path in files:
        with xr.open_dataset(path) as ds:
            if reynolds is not None and ds.attrs["reynolds_number"] == reynolds:
                chosen = path
    trivial = {"sr": "bicubic", "fc": "persistence"}[task]
    return chosen, results / "sample" / task / trivial / chosen.name


def _residual_variance(results: Path) -> dict[str, dict[str, float]]:
    out = {}
    for task in ("sr", "fc"):
        raw, residual = [], []
        for path in _main_files(results, "sample", task, "flex"):
            with xr.open_dataset(path) as ds:
                std = ds.attrs["normalisation_std"]
                target = ds.target.isel(lead=0) if "lead" in ds.dims else ds.target
                raw.append(float((target / std).var()))
                residual.append(float(((target - ds.base) / std).var()))
        out[task] = {"raw": float(np.mean(raw)), "residual": float(np.mean(residual))}
    return out


def run(config: FiguresConfig, results: str | Path, figures: str | Path, tables: str | Path):
    results, figures, tables = Path(results), Path(figures), Path(tables)
    summary = xr.load_dataset(results / "evaluate" / "summary.nc")
    written = []

    def save(figure, name):
        written.extend(plots.save(figure, figures / name, config.dpi))

    held_out = {float(r) for r, s in zip(summary.reynolds_number.values, summary.split.values,
                                         strict=True) if s == "held_out"}  # fmt: skip
    for task in ("sr", "fc"):
        flex_path, trivial_path = _example(results, task, config.example_reynolds_number)
        with xr.open_dataset(flex_path) as flex, xr.open_dataset(trivial_path) as trivial:
            save(plots.samples(flex, trivial, config.example_sample), f"fig1_samples_{task}")
        by_reynolds: dict[float, dict[str, xr.Dataset]] = {}
        for model_dir in sorted((results / "evaluate" / task).iterdir()):
            for path in _main_files(results, "evaluate", task, model_dir.name):
                ds = xr.load_dataset(path)
                by_reynolds.setdefault(float(ds.attrs["reynolds_number"]), {})[model_dir.name] = ds
        save(plots.spectra(by_reynolds, held_out), f"fig2_spectra_{task}")
        save(plots.metric_against_reynolds(summary, task, ("rfne", "crps")), f"fig3_errors_{task}")
        flex_evaluations = [xr.load_dataset(p)
                            for p in _main_files(results, "evaluate", task, "flex")]  # fmt: skip
        save(plots.calibration(flex_evaluations), f"fig4_calibration_{task}")
        caption = f"{task}: mean over Reynolds numbers" + (" (lead 1)" if task == "fc" else "")
        written.extend(write_tables(table_rows(summary, task), tables / task, caption))
    save(plots.forecast_leads(summary), "fig5_forecast_leads")
    save(plots.sampling_steps(summary), "fig6_sampling_steps")
    save(plots.residual_against_raw(_residual_variance(results), summary), "fig7_residual_vs_raw")
    save(plots.velocity_zero_shot(summary), "fig8_velocity_zero_shot")
    log.info("wrote %d figure and table files", len(written))
    return written
