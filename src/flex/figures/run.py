"""The `figures` stage: the figures and tables the study plan chose, from declared inputs only.

Inputs (given by the rule): the summary (`summary.nc`), the evaluation files of the main study
(vorticity) and of the held-out boundaries, and the sample files of the main model and the
trivial baselines. Each file is placed
by its attributes (task, model, Reynolds number, study), never by its path, and nothing is globbed:
files left in results/ by an earlier configuration are never drawn. Outputs: exactly the declared
files (`{name}.png`, `{name}.pdf` for each figure, `{task}.csv|md|tex` for each table, and the
claims table `claims.md|csv`, see `claims`); a declared output that was not written fails the
job. Figure names: `catalogue`; captions: workflow/report/.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

import numpy as np
import xarray as xr

from flex.config import FiguresJob
from flex.errors import StageFailure
from flex.figures import plots
from flex.figures.calibration_study import COLUMNS, calibration_rows
from flex.figures.catalogue import CALIBRATION
from flex.figures.claims import claim_rows, write_claims
from flex.figures.tables import HEADER, table_rows, write_tables
from flex.io.netcdf import open_input, reading
from flex.kinds import TRIVIAL

log = logging.getLogger(__name__)


def _by_attributes(files: list[Path], study: str = "main") -> dict[tuple[str, str, float], Path]:
    """{(task, model, Reynolds number): file} of the vorticity files of `study`."""
    found = {}
    for path in files:
        with open_input(path) as ds:
            attrs = ds.attrs
            if attrs.get("study") == study and attrs.get("variable") == "vorticity":
                found[(attrs["task"], attrs["model"], float(attrs["reynolds_number"]))] = path
    return found


def _boundary_spectra(main_files: dict, boundary_files: dict, tasks, model: str) -> dict:
    """Per task, the energy spectra (truth and members) of `model` at its first wall-bounded
    Reynolds number: over the wall patches, the interior ones, and in the periodic box."""
    out = {}
    for task in tasks:
        found = sorted(re for (t, m, re) in boundary_files if (t, m) == (task, model))
        if not found:
            continue
        re = found[0]
        shown, path = {}, boundary_files[(task, model, re)]
        with open_input(path) as ds, reading(path):
            for region, label in (("wall", "walls, patches at a wall"),
                                  ("interior", "walls, interior patches")):  # fmt: skip
                if f"energy_spectrum_target_{region}" in ds:
                    shown[label] = xr.Dataset(
                        {which: ds[f"energy_spectrum_{which}_{region}"].load()
                         for which in ("target", "prediction")},
                        attrs={"reynolds_number": re})  # fmt: skip
        if (task, model, re) in main_files:
            with open_input(main_files[(task, model, re)]) as ds:
                shown["periodic box"] = xr.Dataset(
                    {which: ds[f"energy_spectrum_{which}"].load()
                     for which in ("target", "prediction")},
                    attrs={"reynolds_number": re})  # fmt: skip
        out[task] = shown
    return out


def _residual_variance(samples: dict, tasks, model: str) -> dict[str, dict[str, float]]:
    """Variance (in the model's normalised units) of the raw target and of the residual
    target - base, from `model`'s sample files of every test trajectory."""
    out = {}
    for task in tasks:
        raw, residual = [], []
        for (file_task, file_model, _), path in sorted(samples.items()):
            if file_task != task or file_model != model:
                continue
            with open_input(path) as ds, reading(path):
                std = ds.attrs["normalisation_std"]
                target = ds.target.isel(lead=0) if "lead" in ds.dims else ds.target
                raw.append(float((target / std).var()))
                residual.append(float(((target - ds.base) / std).var()))
        out[task] = {"raw": float(np.mean(raw)), "residual": float(np.mean(residual))}
    return out


class _Outputs:
    """The declared output files, by name (stem); tracks which were written."""

    def __init__(self, outputs: list[Path]) -> None:
        self.by_name: dict[str, list[Path]] = defaultdict(list)
        for path in map(Path, outputs):
            self.by_name[path.stem].append(path)
        self.written: set[Path] = set()

    def figure(self, figure, name: str, dpi: int) -> None:
        self.written.update(plots.save(figure, self.by_name[name], dpi))

    def table(self, rows, name: str, caption: str, header: tuple[str, ...] = HEADER) -> None:
        self.written.update(write_tables(rows, self.by_name[name], caption, header))

    def claims(self, rows, name: str) -> None:
        self.written.update(write_claims(rows, self.by_name[name]))

    def check(self) -> None:
        missing = sorted(str(p) for paths in self.by_name.values() for p in paths
                         if p not in self.written)  # fmt: skip
        if missing:
            raise StageFailure(f"the figures stage did not write {missing}")


def run(job: FiguresJob, summary_file: Path, evaluations: list[Path], samples: list[Path],
        outputs: list[Path]) -> list[Path]:  # fmt: skip
    with open_input(summary_file) as opened, reading(summary_file):
        summary = opened.load()
    out = _Outputs(outputs)
    wanted = set(job.figures)
    evaluation_files, sample_files = _by_attributes(evaluations), _by_attributes(samples)
    held_out = {float(r) for r, s in zip(summary.reynolds_number.values, summary.split.values,
                                         strict=True) if s == "held_out"}  # fmt: skip
    for task in job.tasks:
        example = job.example_reynolds_number
        shown = (task, job.main_model, example)
        if f"fig1_samples_{task}" in wanted:
            if shown not in sample_files:
                raise StageFailure(f"no {job.main_model} sample file of {task} at Re={example:g} "
                                   "among the inputs")  # fmt: skip
            trivial = sample_files[(task, TRIVIAL[task], example)]
            with open_input(sample_files[shown]) as main, open_input(trivial) as base, \
                    reading(f"{sample_files[shown]} or {trivial}"):  # fmt: skip
                out.figure(plots.samples(main, base, job.example_sample), f"fig1_samples_{task}",
                           job.dpi)  # fmt: skip
        by_reynolds: dict[float, dict[str, xr.Dataset]] = defaultdict(dict)
        for (file_task, model, re), path in sorted(evaluation_files.items()):
            if file_task == task:
                with open_input(path) as opened, reading(path):
                    by_reynolds[re][model] = opened.load()
        out.figure(plots.spectra(by_reynolds, held_out), f"fig2_spectra_{task}", job.dpi)
        if f"fig9_spectral_error_{task}" in wanted:
            out.figure(plots.spectral_error(by_reynolds, held_out), f"fig9_spectral_error_{task}",
                       job.dpi)  # fmt: skip
        out.figure(plots.metric_against_reynolds(summary, task, ("rfne", "crps")),
                   f"fig3_errors_{task}", job.dpi)  # fmt: skip
        if f"fig4_calibration_{task}" in wanted:
            main = [models[job.main_model] for _, models in sorted(by_reynolds.items())]
            out.figure(plots.calibration(main), f"fig4_calibration_{task}", job.dpi)
        caption = f"{task}: mean over Reynolds numbers" + (" (lead 1)" if task == "fc" else "")
        out.table(table_rows(summary, task), task, caption)
    if "fig5_forecast_leads" in wanted:
        out.figure(plots.forecast_leads(summary), "fig5_forecast_leads", job.dpi)
    if "fig6_sampling_steps" in wanted:
        out.figure(plots.sampling_steps(summary, job.main_model), "fig6_sampling_steps", job.dpi)
    if "fig11_calibration_study" in wanted:
        rows = calibration_rows(summary, job.main_model, job.sampling_steps)
        out.figure(plots.calibration_study(rows), "fig11_calibration_study", job.dpi)
        out.table(rows, CALIBRATION, "calibration against network evaluations per member "
                  "(mean over Reynolds numbers)", COLUMNS)  # fmt: skip
    if "fig7_residual_vs_raw" in wanted:
        variance = _residual_variance(sample_files, job.tasks, job.main_model)
        out.figure(plots.residual_against_raw(variance, summary), "fig7_residual_vs_raw", job.dpi)
    if "fig8_velocity_zero_shot" in wanted:
        out.figure(plots.velocity_zero_shot(summary), "fig8_velocity_zero_shot", job.dpi)
    if "fig10_held_out_boundary" in wanted:
        shown = _boundary_spectra(evaluation_files, _by_attributes(evaluations, "boundary"),
                                  job.tasks, job.main_model)  # fmt: skip
        out.figure(plots.held_out_boundary(summary, shown, job.main_model),
                   "fig10_held_out_boundary", job.dpi)  # fmt: skip
    out.claims(claim_rows(summary, job.tasks, job.main_model), "claims")
    out.check()
    log.info("wrote %d figure and table files", len(out.written))
    return sorted(out.written)
