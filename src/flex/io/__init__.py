"""NetCDF output: provenance attributes, atomic writes and streaming of long trajectories."""
