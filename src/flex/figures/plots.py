"""The paper's figures (matplotlib, Agg). Each function draws one figure from NetCDF-derived data
and returns the figure; `save` writes it as PNG and PDF. Labels come from the files' attributes."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.lines
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import xarray as xr

from flex.io.netcdf import atomic_output
from flex.kinds import TRIVIAL, ZERO_SHOT_MODELS

STYLE = {"flex": ("C0", "o"), "flex_raw": ("C1", "s"), "unet": ("C2", "^"),
         "regression": ("C3", "v"), "flex_crps": ("C4", "P"), "uvit": ("C5", "X"),
         "flex_mt": ("C6", "*"), "flex_walls": ("C9", "h"), "flex_continued": ("C8", "d"),
         "bicubic": ("0.4", "D"), "persistence": ("0.4", "D")}  # fmt: skip


def save(figure, paths: list[Path], dpi: int) -> list[Path]:
    """Write `figure` to each of `paths` (the format from the suffix: png, pdf) atomically."""
    for path in paths:
        with atomic_output(path) as tmp:
            figure.savefig(tmp, dpi=dpi, bbox_inches="tight", format=path.suffix[1:])
    plt.close(figure)
    return list(paths)


def samples(main: xr.Dataset, trivial: xr.Dataset, index: int):
    """Figure 1: truth, input, trivial baseline, the main model's ensemble mean, spread, error."""
    lead = {"lead": 0} if "lead" in main.dims else {}
    name = main.attrs["model"]
    members = main.prediction.isel(sample=index, **lead)
    truth = main.target.isel(sample=index, **lead)
    mean = members.mean("member")
    spread = members.std("member", ddof=1) if members.sizes["member"] > 1 else 0 * mean
    inputs = main.input.isel(sample=index, channel=-1)
    baseline = trivial.prediction.isel(sample=index, member=0, **lead)
    spread_title = f"{name} ensemble spread"
    panels = [("truth", truth), ("input", inputs), (trivial.attrs["model"], baseline),
              (f"{name} ensemble mean", mean), (spread_title, spread),
              (f"{name} error", mean - truth)]  # fmt: skip
    figure, axes = plt.subplots(1, 6, figsize=(18, 3.4))
    limit = float(np.abs(truth).max())
    for axis, (title, field) in zip(axes, panels, strict=True):
        signed = title != spread_title
        image = axis.imshow(field, cmap="RdBu_r" if signed else "viridis", origin="lower",
                            vmin=-limit if signed else 0, vmax=limit if signed else None)  # fmt: skip
        axis.set_title(title)
        axis.set_axis_off()
        figure.colorbar(image, ax=axis, shrink=0.7)
    figure.suptitle(f"{main.attrs['task']}: Re = {main.attrs['reynolds_number']:g} "
                    f"({main.attrs['split']}), {main.attrs['variable']}")  # fmt: skip
    return figure


def spectra(by_reynolds: dict[float, dict[str, xr.Dataset]], held_out: set[float]):
    """Figure 2: energy spectra per Reynolds number, truth against every model."""
    count = len(by_reynolds)
    figure, axes = plt.subplots(1, count, figsize=(3.6 * count, 3.4), squeeze=False)
    for axis, (re, models) in zip(axes[0], sorted(by_reynolds.items()), strict=True):
        first = next(iter(models.values()))
        lead = {"lead": 0} if "lead" in first.dims else {}
        k = first.wavenumber.values[1:]
        axis.loglog(
            k, first.energy_spectrum_target.isel(**lead).values[1:], "k-", lw=2, label="truth"
        )
        for model, ds in sorted(models.items()):
            colour, _ = STYLE.get(model, ("C9", "."))
            axis.loglog(k, ds.energy_spectrum_prediction.isel(**lead).values[1:], color=colour,
                        label=model)  # fmt: skip
        axis.set_title(f"Re = {re:g}" + (" (held out)" if re in held_out else ""))
        axis.set_xlabel("wavenumber k")
    axes[0][0].set_ylabel("E(k)")
    axes[0][-1].legend(fontsize=7)
    return figure


def spectral_error(by_reynolds: dict[float, dict[str, xr.Dataset]], held_out: set[float]):
    """Figure 9: relative spectral error |E_members - E_truth| / E_truth against k for every
    model, mean over the Reynolds numbers of each split (held out dashed); dotted: 0.5 (members
    within 50% of the truth) and 1 (members at twice the truth, or none)."""
    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    models = sorted({model for by_model in by_reynolds.values() for model in by_model})
    for model in models:
        colour, _ = STYLE.get(model, ("C9", "."))
        for split, style in (("in_distribution", "-"), ("held_out", "--")):
            curves = [by_model[model].relative_spectral_error
                      for re, by_model in by_reynolds.items()
                      if model in by_model and (re in held_out) == (split == "held_out")]  # fmt: skip
            if not curves:
                continue
            lead = {"lead": 0} if "lead" in curves[0].dims else {}
            mean = np.mean([c.isel(**lead).values for c in curves], axis=0)
            label = f"{model}" + (" (held-out Re)" if split == "held_out" else "")
            axis.loglog(np.arange(1, len(mean)), mean[1:], style, color=colour, label=label)
    for level in (0.5, 1.0):
        axis.axhline(level, color="k", ls=":", lw=0.8)
    axis.set(xlabel="wavenumber k", ylabel="|E_members - E_truth| / E_truth")
    axis.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    return figure


def _reynolds_axis(axis, reynolds_numbers) -> None:
    """Log-scaled x axis ticked at the study's own Reynolds numbers, in plain numbers."""
    values = np.unique(np.asarray(reynolds_numbers, dtype=float))
    axis.set_xscale("log")
    axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    axis.set_xticks(values, [f"{value:g}" for value in values])


def metric_against_reynolds(summary: xr.Dataset, task: str, metrics: tuple[str, ...]):
    """Figure 3: RFNE and CRPS against Re per model; held-out Re hollow markers."""
    figure, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.6))
    keep = (summary.task == task) & (summary.study == "main") & (summary.variable == "vorticity")
    if task == "fc":
        keep = keep & (summary.lead == 1)
    table = summary.where(keep, drop=True)
    for axis, metric in zip(np.atleast_1d(axes), metrics, strict=True):
        for model in sorted(set(table.model.values.tolist())):
            part = table.where(table.model == model, drop=True).sortby("reynolds_number")
            colour, marker = STYLE.get(model, ("C9", "."))
            re, values = part.reynolds_number.values, part[metric].values
            axis.plot(re, values, color=colour, label=model)
            for split, face in (("in_distribution", colour), ("held_out", "none")):
                chosen = part.split.values == split
                axis.scatter(re[chosen], values[chosen], marker=marker, edgecolors=colour,
                             facecolors=face, zorder=3)  # fmt: skip
        _reynolds_axis(axis, table.reynolds_number.values)
        axis.set_xlabel("Reynolds number (hollow: held out)")
        axis.set_ylabel(metric)
    np.atleast_1d(axes)[0].legend(fontsize=7)
    figure.suptitle(f"{task}: errors against Reynolds number")
    return figure


def calibration(evaluations: list[xr.Dataset]):
    """Figure 4: spread against skill per sample, and the pooled rank histogram."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    counts = 0
    for ds in evaluations:
        lead = {"lead": 0} if "lead" in ds.dims else {}
        left.scatter(ds.skill.isel(**lead), ds.spread.isel(**lead), s=6,
                     label=f"Re {ds.attrs['reynolds_number']:g}")  # fmt: skip
        counts = counts + ds.rank_histogram.isel(**lead).values
    limit = left.get_xlim()[1]
    left.plot([0, limit], [0, limit], "k--", lw=1, label="spread = skill")
    left.set_xlabel("skill (RMSE of the ensemble mean)")
    left.set_ylabel("spread")
    left.legend(fontsize=6)
    counts = np.asarray(counts, dtype=float)
    right.bar(np.arange(len(counts)), counts / counts.sum())
    right.axhline(1 / len(counts), color="k", ls="--", lw=1)
    right.set_xlabel("rank of the truth among the members")
    right.set_ylabel("frequency")
    figure.suptitle(
        f"calibration of {evaluations[0].attrs['model']} ({evaluations[0].attrs['task']})"
    )
    return figure


def forecast_leads(summary: xr.Dataset):
    """Figure 5: RFNE and correlation against lead; mean- against member-feedback."""
    table = summary.where((summary.task == "fc") & (summary.study == "main")
                          & (summary.variable == "vorticity"), drop=True)  # fmt: skip
    figure, axes = plt.subplots(1, 3, figsize=(15, 3.6))
    for model in sorted(set(table.model.values.tolist())):
        part = table.where(table.model == model, drop=True)
        leads = np.unique(part.lead.values)
        colour, marker = STYLE.get(model, ("C9", "."))
        for axis, metric in zip(axes, ("rfne", "pearson", "rfne_member_feedback"), strict=True):
            values = [np.nanmean(part[metric].values[part.lead.values == lead]) for lead in leads]
            axis.plot(leads, values, color=colour, marker=marker, label=model)
            axis.set_xlabel("lead (save intervals)")
            axis.set_ylabel(metric)
    axes[0].set_title("ensemble mean fed back")
    axes[2].set_title("each member fed its own history")
    axes[0].legend(fontsize=7)
    return figure


def sampling_steps(summary: xr.Dataset, model: str):
    """Figure 6: error and CRPS of `model` against the number of deterministic DDIM steps, on the
    test trajectories at the training Reynolds numbers."""
    keep = (summary.study == "steps") & (summary.model == model) & (summary.eta == 0)
    table = summary.where(keep & (summary.split == "in_distribution"), drop=True)
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for task in sorted(set(table.task.values.tolist())):
        part = table.where(table.task == task, drop=True)
        if task == "fc":
            part = part.where(part.lead == 1, drop=True)
        steps = np.unique(part.sampling_steps.values)
        for axis, metric in zip(axes, ("rfne", "crps"), strict=True):
            values = [
                np.nanmean(part[metric].values[part.sampling_steps.values == s]) for s in steps
            ]
            axis.plot(steps, values, marker="o", label=task)
            axis.set_xscale("log", base=2)
            axis.set_xlabel("sampling steps")
            axis.set_ylabel(metric)
    axes[0].legend()
    figure.suptitle(f"{model}: error against the number of reverse diffusion steps")
    return figure


def calibration_study(rows: list[dict]):
    """Figure 11: calibration against the network evaluations per member, one line per method
    (model and sampler; `flex.figures.calibration_study`), solid in distribution, dashed on the
    held-out Reynolds numbers; one row of panels per task, forecasts at lead 1 (mean feedback)."""
    tasks = sorted({r["task"] for r in rows}, key=["sr", "fc"].index)
    panels = (("spread_skill", "spread/skill (1: calibrated)"), ("pull_std", "pull std (1)"),
              ("crps", "CRPS"), ("rfne", "RFNE of the ensemble mean"))  # fmt: skip
    figure, axes = plt.subplots(len(tasks), len(panels), figsize=(16, 3.4 * len(tasks)),
                                squeeze=False, layout="constrained")  # fmt: skip
    methods = sorted({r["method"] for r in rows})
    for axes_row, task in zip(axes, tasks, strict=True):
        for index, method in enumerate(methods):
            colour, marker = f"C{index}", STYLE.get(method.split(",")[0], ("C0", "o"))[1]
            for split, line in (("in_distribution", "-"), ("held_out", "--")):
                chosen = sorted((r for r in rows if r["task"] == task and r["method"] == method
                                 and r["split"] == split and r["lead"] <= 1),
                                key=lambda r: r["network_evaluations"])  # fmt: skip
                if not chosen:
                    continue
                cost = [r["network_evaluations"] for r in chosen]
                for axis, (column, _) in zip(axes_row, panels, strict=True):
                    axis.plot(cost, [r[column] for r in chosen], line, color=colour,
                              marker=marker, label=f"{method} ({split.replace('_', ' ')})")  # fmt: skip
        for axis, (column, label) in zip(axes_row, panels, strict=True):
            if column in ("spread_skill", "pull_std"):
                axis.axhline(1.0, color="0.5", linewidth=0.8)
            axis.set_xscale("log", base=2)
            axis.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
            axis.set_xlabel("network evaluations per member")
            axis.set_ylabel(label)
        axes_row[0].set_title(task, loc="left")
    axes[0][0].legend(fontsize=7)
    figure.suptitle("Calibration against cost: each model and sampler of the steps study")
    return figure


def residual_against_raw(variance: dict[str, dict[str, float]], summary: xr.Dataset):
    """Figure 7: variance of what is modelled (residual vs raw) and the error of flex vs flex_raw."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    tasks = sorted(variance)
    width = 0.35
    x = np.arange(len(tasks))
    left.bar(x - width / 2, [variance[t]["raw"] for t in tasks], width, label="raw target")
    left.bar(x + width / 2, [variance[t]["residual"] for t in tasks], width, label="residual")
    left.set_xticks(x, tasks)
    left.set_ylabel("variance (normalised units)")
    left.legend()
    for offset, model in ((-width / 2, "flex"), (width / 2, "flex_raw")):
        values = []
        for task in tasks:
            keep = (summary.task == task) & (summary.model == model) & (summary.study == "main")
            keep = keep & (summary.variable == "vorticity") & (summary.lead <= 1)
            values.append(float(np.nanmean(summary.rfne.where(keep, drop=True).values)))
        right.bar(x + offset, values, width, label=model, color=STYLE[model][0])
    right.set_xticks(x, tasks)
    right.set_ylabel("RFNE")
    right.legend()
    figure.suptitle("residual against raw modelling")
    return figure


def velocity_zero_shot(summary: xr.Dataset):
    """Figure 8: super-resolution RFNE of vorticity and (zero-shot) velocity against Re."""
    table = summary.where((summary.task == "sr") & (summary.study == "main"), drop=True)
    figure, axis = plt.subplots(figsize=(6, 3.6))
    for variable, style in (("vorticity", "-"), ("u", "--"), ("v", ":")):
        for model in (*ZERO_SHOT_MODELS, TRIVIAL["sr"]):
            part = table.where((table.variable == variable) & (table.model == model), drop=True)
            if part.sizes.get("row", 0) == 0:
                continue
            part = part.sortby("reynolds_number")
            axis.plot(part.reynolds_number, part.rfne, style, color=STYLE[model][0],
                      marker=STYLE[model][1], label=f"{model}, {variable}")  # fmt: skip
    _reynolds_axis(axis, table.reynolds_number.values)
    axis.set_xlabel("Reynolds number")
    axis.set_ylabel("RFNE")
    axis.legend(fontsize=7)
    axis.set_title("vorticity-trained models on velocity (zero-shot)")
    return figure


BOUNDARY_SHOWN = {"periodic box": ("main", None, "-", "o"),
                  "walls, all patches": ("boundary", "held_out_boundary", "--", "s"),
                  "walls, patches at a wall": ("boundary", "held_out_boundary_wall", ":", "^"),
                  "walls, interior patches": ("boundary", "held_out_boundary_interior", "-.",
                                              "v")}  # fmt: skip
"""Figure 10's curves: (study, split or None for any split, line style, marker)."""


def held_out_boundary(summary: xr.Dataset, spectra_by_task: dict[str, dict[str, xr.Dataset]],
                      main: str):  # fmt: skip
    """Figure 10: the periodic-trained models between no-slip walls (zero-shot). Left, per task:
    RFNE against Re per model, in the periodic box and between walls (all patches, the patches
    at a wall, the interior ones; fc at lead 1). Right: the main model's energy spectra, truth
    and members, over the wall and interior patches and in the periodic box, at one Re."""
    tasks = sorted(spectra_by_task)
    figure, axes = plt.subplots(len(tasks), 2, figsize=(12, 3.8 * len(tasks)), squeeze=False)
    walled = summary.study == "boundary"
    reynolds = np.unique(summary.reynolds_number.where(walled, drop=True).values)
    for (left, right), task in zip(axes, tasks, strict=True):
        keep = (summary.task == task) & (summary.variable == "vorticity")
        keep = keep & (summary.lead == 1) if task == "fc" else keep
        table = summary.where(keep & summary.reynolds_number.isin(reynolds), drop=True)
        models = sorted(set(table.model.values.tolist()))
        for model in models:
            colour = STYLE.get(model, ("C9", "."))[0]
            for study, split, style, marker in BOUNDARY_SHOWN.values():
                chosen = (table.model == model) & (table.study == study)
                if split is not None:
                    chosen = chosen & (table.split == split)
                part = table.where(chosen, drop=True).sortby("reynolds_number")
                if part.sizes.get("row", 0):
                    left.plot(part.reynolds_number, part.rfne, style, color=colour,
                              marker=marker)  # fmt: skip
        _reynolds_axis(left, reynolds)
        left.set(xlabel="Reynolds number", ylabel="RFNE", title=f"{task}: zero-shot between walls")
        # one legend for the models (colour), one for the conditions (line and marker)
        handles = [matplotlib.lines.Line2D([], [], color=STYLE.get(m, ("C9", "."))[0], label=m)
                   for m in models]  # fmt: skip
        models_legend = left.legend(handles=handles, fontsize=6, loc="upper left")
        left.add_artist(models_legend)
        conditions = [matplotlib.lines.Line2D([], [], color="k", ls=style, marker=marker,
                                              label=label)
                      for label, (_, _, style, marker) in BOUNDARY_SHOWN.items()]  # fmt: skip
        left.legend(handles=conditions, fontsize=6, loc="upper right")
        shown = spectra_by_task[task]
        for (name, ds), colour in zip(sorted(shown.items()), ("C0", "C1", "C2"), strict=False):
            lead = {"lead": 0} if "lead" in ds.dims else {}
            for which, style in (("target", "-"), ("prediction", "--")):
                values = ds[which].isel(**lead).values
                right.loglog(np.arange(1, len(values)), values[1:], style, color=colour,
                             label=f"{name}: {'truth' if which == 'target' else main}")  # fmt: skip
        right.set(xlabel="wavenumber k (patch)", ylabel="E(k)",
                  title=f"{task}: {main} spectra, Re = {_shown_reynolds(shown):g}")  # fmt: skip
        right.legend(fontsize=6)
    figure.tight_layout()
    return figure


def _shown_reynolds(shown: dict[str, xr.Dataset]) -> float:
    return float(next(iter(shown.values())).attrs["reynolds_number"])
