"""The `evaluate` stage: results/sample/... .nc -> results/evaluate/... .nc (same name).

Reads the sample file `execution.evaluate.samples_per_chunk` samples at a time (memory bounded
whatever the file size; the chunk size changes the pooled sums at float64 rounding only) and
writes, on the ensemble mean unless named otherwise:
- per sample (and lead for forecasts): `rfne`, `mse`, `mae`, `psnr`, `ssim`, `crps` (fair, of the
  members), `spread`, `skill`, `spread_skill_ratio`; forecasts also `pearson` and, for the
  member-feedback rollouts, `rfne_member_feedback`, `crps_member_feedback`,
  `spread_skill_ratio_member_feedback`;
- pooled over the file: `rfne_pooled` (norms over all samples, as the FLEX code per batch),
  `spread_skill_ratio_pooled` (forecasts also `spread_skill_ratio_pooled_member_feedback`, the
  same estimator on the member-feedback rollouts), `rank_histogram(rank_bin)` and its
  `rank_flatness`, `pull_mean`, `pull_std`;
- spectra over `wavenumber` (Hann-windowed patches; see `spectra`): `energy_spectrum_target`,
  `energy_spectrum_prediction` (mean over members of each member's spectrum),
  `energy_spectrum_ensemble_mean`, the enstrophy spectra likewise, and
  `relative_spectral_error` = |E_prediction - E_target| / E_target;
- for a wall-bounded trajectory (held-out boundary): the sample file's per-sample `touches_wall`,
  and the energy spectra of target and prediction over the patches that touch a wall and over
  the others apart (`energy_spectrum_target_wall`, `energy_spectrum_prediction_interior`, ...;
  a region without patches is left out).
Metrics are in physical units. With one member (regression, trivial baselines) the CRPS is the
absolute error and the spread-based scores are not defined (NaN).
"""

from __future__ import annotations

from pathlib import Path

import netCDF4
import numpy as np
import xarray as xr

from flex import dims
from flex.config import WALL_REGIONS, EvaluateConfig, EvaluateExecution, to_dict
from flex.errors import StageFailure
from flex.evaluate import calibration, errors, spectra
from flex.io.netcdf import open_input, reading, require_finite, write_dataset
from flex.io.provenance import provenance_attrs

PER_SAMPLE = {
    "rfne": "relative Frobenius-norm error of the ensemble mean",
    "mse": "mean squared error of the ensemble mean",
    "mae": "mean absolute error of the ensemble mean",
    "psnr": "peak signal-to-noise ratio of the ensemble mean in decibels, 10 log10(range of the "
    "truth^2 / mse)",
    "ssim": "structural similarity of the ensemble mean",
    "crps": "continuous ranked probability score (fair ensemble estimator), pixel mean",
    "spread": "ensemble spread sqrt(mean unbiased variance)",
    "skill": "RMSE of the ensemble mean",
    "spread_skill_ratio": "sqrt((M+1)/M) spread / skill",
}
CARRIED = ("task", "model", "variable", "study", "reynolds_number", "seed", "split", "held_out",
           "sampling_steps", "eta", "ensemble_size", "boundary")  # fmt: skip
"""Attributes of the sample file that the evaluation file carries on (what the summary reads)."""
FORECAST_ONLY = {
    "pearson": "Pearson correlation of the ensemble mean with the truth",
    "rfne_member_feedback": "RFNE of the ensemble mean, each member fed its own history",
    "crps_member_feedback": "fair CRPS, each member fed its own history",
    "spread_skill_ratio_member_feedback": "spread/skill, each member fed its own history",
}


def _scores(ensemble: np.ndarray, mean: np.ndarray, truth: np.ndarray) -> dict[str, np.ndarray]:
    """Per-sample scores; ensemble (S, M, [L,] y, x), its mean over members and truth
    (S, [L,] y, x)."""
    members = ensemble.shape[1]
    out = {
        "rfne": errors.rfne(mean, truth), "mse": errors.mse(mean, truth),
        "mae": errors.mae(mean, truth), "psnr": errors.psnr(mean, truth),
        "ssim": errors.ssim(mean, truth), "pearson": errors.pearson(mean, truth),
    }  # fmt: skip
    pixels = (-2, -1)
    if members > 1:
        out["crps"] = calibration.crps(ensemble, truth).mean(axis=pixels)
        spread, skill, ratio = calibration.spread_skill(ensemble, truth, pixel_axes=pixels)
        out.update(spread=spread, skill=skill, spread_skill_ratio=ratio)
    else:
        out["crps"] = np.abs(ensemble[:, 0] - truth).mean(axis=pixels)
        out["skill"] = np.sqrt(out["mse"])
        out["spread"] = out["spread_skill_ratio"] = np.full_like(out["skill"], np.nan)
    return out


class _Pooled:
    """Sums over all chunks for the pooled scores and the spectra."""

    def __init__(self) -> None:
        self.sums: dict[str, np.ndarray | float] = {}
        self.count = 0

    def add(self, name: str, value) -> None:
        self.sums[name] = self.sums.get(name, 0) + value


def run(config: EvaluateConfig, execution: EvaluateExecution, sample_file: str | Path,
        output: str | Path) -> Path:  # fmt: skip
    with open_input(sample_file) as probe:
        attrs = dict(probe.attrs)
        if "prediction" not in probe or "target" not in probe:
            raise StageFailure(f"input file {sample_file} is not a sample file (no prediction)")
    forecast = attrs["task"] == "fc"
    from_vorticity = attrs.get("variable", "vorticity") == "vorticity"
    walled = attrs.get("boundary", "periodic") != "periodic"
    per_sample: dict[str, list[np.ndarray]] = {}
    pooled = _Pooled()
    with reading(sample_file), netCDF4.Dataset(sample_file) as ds:
        ds.set_auto_mask(False)
        total, members = ds.dimensions[dims.SAMPLE].size, ds.dimensions[dims.MEMBER].size
        for start in range(0, total, execution.samples_per_chunk):
            chunk = slice(start, min(total, start + execution.samples_per_chunk))
            ensemble, truth = (_read(ds, name, chunk, sample_file) for name in ("prediction",
                                                                                 "target"))  # fmt: skip
            mean = ensemble.mean(axis=1)
            for name, value in _scores(ensemble, mean, truth).items():
                per_sample.setdefault(name, []).append(value)
            if forecast:
                other = _read(ds, "prediction_member_feedback", chunk, sample_file)
                other_mean = other.mean(axis=1)
                scores = _scores(other, other_mean, truth)
                per_sample.setdefault("rfne_member_feedback", []).append(scores["rfne"])
                per_sample.setdefault("crps_member_feedback", []).append(scores["crps"])
                per_sample.setdefault("spread_skill_ratio_member_feedback", []).append(
                    scores["spread_skill_ratio"])  # fmt: skip
                _accumulate_spread(pooled, other, other_mean, truth, "_member_feedback")
            _accumulate(pooled, ensemble, mean, truth, members, config, from_vorticity)
            if walled:
                walls = np.asarray(ds["touches_wall"][chunk]).astype(bool)
                per_sample.setdefault("touches_wall", []).append(walls.astype(np.int8))
                _accumulate_regions(pooled, ensemble, truth, walls, from_vorticity)
    return _write(config, execution, sample_file, output, attrs, per_sample, pooled, members,
                  forecast)  # fmt: skip


def _read(ds: netCDF4.Dataset, name: str, chunk: slice, path) -> np.ndarray:
    """Samples `chunk` of variable `name`, in float64, every value checked finite."""
    values = np.asarray(ds[name][chunk], dtype=np.float64)
    require_finite(values, path, name, ds[name].dimensions, chunk.start)
    return values


def _energy(fields: np.ndarray, from_vorticity: bool) -> np.ndarray:
    """Energy spectra of Hann-windowed patches (`spectra.energy_spectrum`) over the last two axes."""
    return spectra.energy_spectrum(fields, from_vorticity, window=True)


def _accumulate_spread(pooled, ensemble, mean, truth, suffix: str = "") -> None:
    """Sums over samples and pixels (per lead) of the ensemble mean's squared error and of the
    members' unbiased variance: the two halves of the pooled spread/skill ratio."""
    axes = (0, -2, -1)
    pooled.add(f"error_squared{suffix}", ((mean - truth) ** 2).sum(axis=axes))
    if ensemble.shape[1] > 1:
        pooled.add(f"variance{suffix}", ensemble.var(axis=1, ddof=1).sum(axis=axes))


def _accumulate(pooled, ensemble, mean, truth, members, config, from_vorticity) -> None:
    _accumulate_spread(pooled, ensemble, mean, truth)
    pooled.add("truth_squared", (truth**2).sum(axis=(0, -2, -1)))
    pooled.count += len(truth)
    if members > 1:
        leads = truth.shape[1:-2]
        hist = [calibration.rank_histogram(ensemble[:, :, lead] if leads else ensemble,
                                           truth[:, lead] if leads else truth, config.rank_stride)
                for lead in (range(leads[0]) if leads else [None])]  # fmt: skip
        pooled.add("rank_histogram", np.stack(hist))
        z = calibration.pull(ensemble, truth)
        z = z[np.isfinite(z)]
        pooled.add("pull_sum", z.sum())
        pooled.add("pull_square", (z**2).sum())
        pooled.add("pull_count", z.size)
    pooled.add("energy_target", _energy(truth, from_vorticity).sum(axis=0))
    pooled.add("energy_prediction", _energy(ensemble, from_vorticity).mean(axis=1).sum(axis=0))
    pooled.add("energy_ensemble_mean", _energy(mean, from_vorticity).sum(axis=0))
    if from_vorticity:
        enstrophy = lambda f: spectra.enstrophy_spectrum(f, window=True)  # noqa: E731
        pooled.add("enstrophy_target", enstrophy(truth).sum(axis=0))
        pooled.add("enstrophy_prediction", enstrophy(ensemble).mean(axis=1).sum(axis=0))


def _accumulate_regions(pooled, ensemble, truth, walls, from_vorticity) -> None:
    """Energy spectra of target and members over the patches of each wall region."""
    for region, touching in WALL_REGIONS.items():
        chosen = walls == touching
        if chosen.any():
            pooled.add(f"region_target_{region}",
                       _energy(truth[chosen], from_vorticity).sum(axis=0))  # fmt: skip
            pooled.add(f"region_prediction_{region}",
                       _energy(ensemble[chosen], from_vorticity).mean(axis=1).sum(axis=0))  # fmt: skip
            pooled.add(f"region_count_{region}", int(chosen.sum()))


def _pooled_ratio(sums: dict, members: int, suffix: str = "") -> np.ndarray:
    """sqrt((M+1)/M sum of variances / sum of squared errors of the ensemble mean), per lead:
    both sums run over the same samples and pixels (Fortin et al. 2014)."""
    variance, error = (
        np.atleast_1d(sums[f"{name}{suffix}"]) for name in ("variance", "error_squared")
    )
    return np.sqrt((members + 1) / members * variance / error)


def _write(config, execution, sample_file, output, attrs, per_sample, pooled, members,
           forecast) -> Path:  # fmt: skip
    lead = (dims.LEAD,) if forecast else ()
    per_lead = (lambda values: np.asarray(values)) if forecast else (lambda values: values[0])
    data = {}
    walls = per_sample.pop("touches_wall", None)
    if walls is not None:
        data["touches_wall"] = ((dims.SAMPLE,), np.concatenate(walls), {"units": "1", "long_name":
                                "1 if the patch reaches a no-slip wall, else 0"})  # fmt: skip
    for name, parts in per_sample.items():
        if name == "pearson" and not forecast:
            continue
        description = PER_SAMPLE.get(name) or FORECAST_ONLY[name]
        data[name] = ((dims.SAMPLE, *lead), np.concatenate(parts),
                      {"units": "1", "long_name": description})  # fmt: skip
    sums, count = pooled.sums, pooled.count
    error_squared = np.atleast_1d(sums["error_squared"])
    rfne_pooled = np.sqrt(error_squared / np.atleast_1d(sums["truth_squared"]))
    if members > 1:
        ratio = _pooled_ratio(sums, members)
        counts = sums["rank_histogram"]
        flatness = [calibration.rank_flatness(c) for c in counts]
        pull_mean = sums["pull_sum"] / sums["pull_count"]
        pull_std = np.sqrt(sums["pull_square"] / sums["pull_count"] - pull_mean**2)
    else:
        ratio = np.full(len(error_squared), np.nan)
        counts = np.full((len(error_squared), 2), np.nan)
        flatness, pull_mean, pull_std = [np.nan] * len(error_squared), np.nan, np.nan
    scalar = {"units": "1"}
    data["rfne_pooled"] = (lead, per_lead(rfne_pooled),
                           {**scalar, "long_name": "RFNE with norms over all samples"})  # fmt: skip
    data["spread_skill_ratio_pooled"] = (lead, per_lead(ratio),
                                         {**scalar, "long_name": "sqrt((M+1)/M) spread / skill "
                                          "over all samples"})  # fmt: skip
    if forecast:
        feedback = _pooled_ratio(sums, members, "_member_feedback") if members > 1 else ratio
        data["spread_skill_ratio_pooled_member_feedback"] = (
            lead, feedback, {**scalar, "long_name": "sqrt((M+1)/M) spread / skill over all "
                             "samples, each member fed its own history"})  # fmt: skip
    data["rank_histogram"] = ((*lead, dims.RANK_BIN), per_lead(counts),
                              {**scalar, "long_name": "counts of the rank of the truth"})  # fmt: skip
    data["rank_flatness"] = (lead, per_lead(flatness),
                             {**scalar, "long_name": "rank histogram flatness delta"})  # fmt: skip
    data["pull_mean"] = ((), pull_mean, {**scalar, "long_name": "mean of (mean - truth) / std"})
    data["pull_std"] = ((), pull_std, {**scalar, "long_name": "std of (mean - truth) / std"})
    for region in WALL_REGIONS:
        if f"region_count_{region}" not in sums:
            continue
        for which in ("target", "prediction"):
            description = f"energy spectrum of the {which}, patches of the {region} (Hann window)"
            data[f"energy_spectrum_{which}_{region}"] = (
                (*lead, dims.WAVENUMBER),
                sums[f"region_{which}_{region}"] / sums[f"region_count_{region}"],
                {**scalar, "long_name": description},
            )
    for key, value in sums.items():
        field, _, which = key.partition("_")
        if field in ("energy", "enstrophy"):
            description = f"{field} spectrum of the {which.replace('_', ' ')} (Hann window)"
            data[f"{field}_spectrum_{which}"] = ((*lead, dims.WAVENUMBER), value / count,
                                                 {**scalar, "long_name": description})  # fmt: skip
    target, prediction = sums["energy_target"], sums["energy_prediction"]
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.abs(prediction - target) / target
    data["relative_spectral_error"] = ((*lead, dims.WAVENUMBER), relative,
                                       {**scalar, "long_name": "|E_prediction - E_target| / "
                                        "E_target"})  # fmt: skip
    coords = {dims.WAVENUMBER: (dims.WAVENUMBER, np.arange(target.shape[-1]), {"units": "1",
              "long_name": "wavenumber shell, in units of the patch's fundamental"})}  # fmt: skip
    if forecast:
        with open_input(sample_file) as ds:
            coords[dims.LEAD] = (dims.LEAD, ds[dims.LEAD].values, dict(ds[dims.LEAD].attrs))
    carried = {k: attrs[k] for k in CARRIED if k in attrs}
    out_attrs = provenance_attrs(f"evaluation of {Path(sample_file).name}", to_dict(config),
                                 to_dict(execution), sample_file=str(sample_file), **carried)  # fmt: skip
    return write_dataset(xr.Dataset(data, coords=coords), output, out_attrs)
