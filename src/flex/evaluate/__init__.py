"""The `evaluate` stage: errors, spectra and calibration of the sample files, and the summary."""
