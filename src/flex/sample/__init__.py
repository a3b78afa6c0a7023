"""The `sample` stage: ensembles of predictions on the test trajectories (every Reynolds number)."""
