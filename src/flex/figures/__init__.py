"""The `figures` stage: the paper's figures and tables, from the NetCDF outputs alone."""
