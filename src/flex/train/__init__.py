"""The `train` stage: one (task, model) per job, residual-space v-prediction diffusion or regression."""
