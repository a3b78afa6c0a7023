"""The `training_statistics` stage: normalisation statistics of the training trajectories."""
