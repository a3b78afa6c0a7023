"""Dimension names of the data contract (../shared/design.md section 2). Use these, never literals."""

TIME = "time"
Y = "y"
X = "x"
MEMBER = "member"
SAMPLE = "sample"
LEAD = "lead"
WAVENUMBER = "wavenumber"
RANK_BIN = "rank_bin"

FIELD_DIMS = (TIME, Y, X)
