"""Dimension names of the data contract (docs/method.md, "Files"). Use these, never literals."""

TIME = "time"
Y = "y"
X = "x"
MEMBER = "member"
SAMPLE = "sample"
LEAD = "lead"
WAVENUMBER = "wavenumber"
RANK_BIN = "rank_bin"

FIELD_DIMS = (TIME, Y, X)
