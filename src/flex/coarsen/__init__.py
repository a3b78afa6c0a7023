"""The `coarsen` stage: coarse-graining of the simulated fields (subsample, spectral cutoff, box)."""
