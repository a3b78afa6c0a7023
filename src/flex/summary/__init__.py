"""The `summary` stage: results/evaluate/summary.csv (and .nc), the table behind the figures."""
