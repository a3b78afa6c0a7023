"""Square patches of periodic fields, read lazily from NetCDF variables (or arrays).

A patch of side P with top-left corner (y0, x0) covers rows y0 .. y0+P-1 and columns
x0 .. x0+P-1 modulo the grid size (periodic wrap). It is read with at most four rectangular
slices, so that only the stored tiles it overlaps are touched: never the whole field.
"""

from __future__ import annotations

import numpy as np


def wrapped_slices(start: int, size: int, n: int) -> list[tuple[slice, slice]]:
    """(source slice, destination slice) pairs covering start .. start+size-1 modulo n."""
    if size > n:
        raise ValueError(f"patch of {size} points does not fit a periodic axis of {n}")
    start %= n
    first = min(size, n - start)
    pairs = [(slice(start, start + first), slice(0, first))]
    if first < size:
        pairs.append((slice(0, size - first), slice(first, size)))
    return pairs


def read_patch(variable, times: slice | int, y0: int, x0: int, size: int) -> np.ndarray:
    """variable[times, y0:y0+size, x0:x0+size] with periodic wrap; variable is (time, y, x)."""
    ny, nx = variable.shape[-2:]
    first = variable[times, 0:1, 0:1]
    patch = np.empty((*np.shape(first)[:-2], size, size), dtype=np.float32)
    for y_source, y_dest in wrapped_slices(y0, size, ny):
        for x_source, x_dest in wrapped_slices(x0, size, nx):
            patch[..., y_dest, x_dest] = variable[times, y_source, x_source]
    return patch


def tiling_corners(n: int, size: int) -> list[tuple[int, int]]:
    """Top-left corners of the non-overlapping patches that tile an n x n field (row-major)."""
    count = n // size
    return [(i * size, j * size) for i in range(count) for j in range(count)]
