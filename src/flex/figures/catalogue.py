"""The figures and tables the figures stage can draw: their names and file types.

Which of them a study gets depends on its tasks and models (`flex.plan.StudyPlan.figures`); the
names are the file stems under results/figures/ and results/tables/, and each figure's caption is
workflow/report/{name}.rst. No plotting library here: the study plan reads this at workflow parse
time.
"""

from __future__ import annotations

FIGURE_SUFFIXES = ("png", "pdf")
TABLE_SUFFIXES = ("csv", "md", "tex")

PER_TASK = ("fig1_samples", "fig2_spectra", "fig3_errors", "fig4_calibration",
            "fig9_spectral_error")  # fmt: skip
"""Figures drawn once per task (`{name}_{task}`): samples, spectra, errors against Re, the main
model's calibration, every model's relative spectral error against k; forecasts are shown at
lead 1."""

STUDY_WIDE = ("fig5_forecast_leads", "fig6_sampling_steps", "fig7_residual_vs_raw",
              "fig8_velocity_zero_shot", "fig10_held_out_boundary",
              "fig11_calibration_study")  # fmt: skip
"""Figures drawn once, when the study has what they compare (see the study plan)."""

CALIBRATION = "calibration"
"""The calibration study's table (`flex.figures.calibration_study`), drawn with figure 11:
results/tables/calibration.{csv,md,tex} (`TABLE_SUFFIXES`)."""

CLAIMS = "claims"
CLAIMS_SUFFIXES = ("md", "csv")
"""The claims table (`flex.figures.claims`): results/tables/claims.md and .csv."""
