"""The calibration study: how well the ensembles are calibrated against their cost, the network
evaluations per member, for each sampler and model of the steps study (results/tables/
calibration.{csv,md,tex} and figure 11).

Rows come from the summary's steps-study rows (study `steps`): each model of
`flex.kinds.STEPS_STUDY_MODELS` with each sampler (DDIM with its eta; 0 is deterministic, 1
ancestral) at each number of steps. One DDIM step is one network evaluation per member, so the
number of steps is the cost. Per task, method, network evaluations, split and lead (forecasts;
0 for super-resolution), the mean over the split's Reynolds numbers of:

- `spread_skill`: the pooled spread/skill ratio, sqrt((M+1)/M sum of ensemble variances / sum of
  squared errors of the ensemble mean) over all pixels of a trajectory (Fortin et al. 2014): 1
  when the members are drawn from the true predictive distribution;
- `rank_flatness` of the rank histogram (Candille and Talagrand 2005), `pull_mean`, `pull_std`
  of (ensemble mean - truth) / ensemble std (0 and 1 when calibrated);
- `crps` (fair, of the members) and `rfne` of the ensemble mean;
- forecasts also the member-feedback rollout's (each member fed its own history) pooled
  spread/skill, CRPS and RFNE (at the first lead both rollouts are the same ensemble).

`target`, at the study's sampling steps (the paper's two network evaluations): whether the method
meets the calibration target, spread/skill in [`SPREAD_SKILL_RANGE`] with a CRPS below and an
RFNE at most `RFNE_TOLERANCE` above deterministic DDIM's of the main model at the same cost (the
reference itself is judged on spread/skill only); otherwise what it misses. The rank flatness is
reported but not judged: for a calibrated ensemble it is about 1 for independent pixels and grows
with the number of pixels that move together, so no threshold holds at every resolution.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

SPREAD_SKILL_RANGE = (0.8, 1.25)
"""Spread/skill counted as calibrated: within 25% of 1 (either way, on a log scale)."""

RFNE_TOLERANCE = 0.05
"""A calibrated method may pay at most 5% of the reference's ensemble-mean RFNE."""

METRICS = {
    "spread_skill": "spread_skill_ratio_pooled",
    "rank_flatness": "rank_flatness",
    "pull_mean": "pull_mean",
    "pull_std": "pull_std",
    "crps": "crps",
    "rfne": "rfne",
    "spread_skill_member_feedback": "spread_skill_ratio_pooled_member_feedback",
    "crps_member_feedback": "crps_member_feedback",
    "rfne_member_feedback": "rfne_member_feedback",
}
"""Column of the calibration table: the summary metric it averages."""

KEYS = ("task", "method", "network_evaluations", "split", "lead")
COLUMNS = (*KEYS, *METRICS, "target")
SPLITS = ("in_distribution", "held_out")


def is_calibrated(spread_skill: float) -> bool:
    """Spread/skill within `SPREAD_SKILL_RANGE`."""
    low, high = SPREAD_SKILL_RANGE
    return low <= spread_skill <= high


def method_name(model: str, eta: float) -> str:
    """A model with its sampler: `flex, DDIM` (deterministic), `flex, DDIM eta=1`."""
    return f"{model}, DDIM" + (f" eta={eta:g}" if eta != 0 else "")


def calibration_rows(summary: xr.Dataset, main_model: str, sampling_steps: int) -> list[dict]:
    """The table's rows (`COLUMNS`), ordered by task, method, cost, split and lead."""
    steps = summary.where(summary.study == "steps", drop=True)
    if steps.sizes.get("row", 0) == 0:
        return []
    groups: dict[tuple, list[int]] = {}
    for i in range(steps.sizes["row"]):
        key = (str(steps.task.values[i]), str(steps.model.values[i]), float(steps.eta.values[i]),
               int(steps.sampling_steps.values[i]), str(steps.split.values[i]),
               int(steps.lead.values[i]))  # fmt: skip
        if key[4] in SPLITS:
            groups.setdefault(key, []).append(i)
    rows = []
    for (task, model, eta, cost, split, lead), chosen in sorted(groups.items()):
        row = {"task": task, "method": method_name(model, eta), "network_evaluations": cost,
               "split": split, "lead": lead}  # fmt: skip
        for column, metric in METRICS.items():
            values = steps[metric].values[chosen].astype(float)
            values = values[np.isfinite(values)]
            row[column] = float(values.mean()) if values.size else float("nan")
        rows.append(row)
    reference = {(r["task"], r["split"], r["lead"]): r for r in rows
                 if r["method"] == method_name(main_model, 0.0)
                 and r["network_evaluations"] == sampling_steps}  # fmt: skip
    for row in rows:
        row["target"] = (_verdict(row, reference.get((row["task"], row["split"], row["lead"])))
                         if row["network_evaluations"] == sampling_steps else "")  # fmt: skip
    return rows


def _verdict(row: dict, reference: dict | None) -> str:
    misses = [] if is_calibrated(row["spread_skill"]) else ["spread/skill"]
    if reference is not None and reference is not row:
        if not row["crps"] < reference["crps"]:
            misses.append("CRPS")
        if not row["rfne"] <= reference["rfne"] * (1 + RFNE_TOLERANCE):
            misses.append("RFNE")
    return "meets" if not misses else "misses " + ", ".join(misses)
