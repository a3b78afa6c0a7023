"""Bicubic up-sampling of coarse fields, as the FLEX paper: torch.nn.functional.interpolate with
mode="bicubic" and align_corners=False: Keys' cubic convolution with a = -0.75 (Keys 1981, IEEE
Trans. ASSP 29, 1153). With a != -1/2 it is only first-order accurate on smooth fields (the error
halves with the coarse spacing; tests/test_data.py measures it), which leaves more for the residual
to carry than a third-order interpolant would.

With align_corners=False, fine pixel i samples the coarse field at coarse coordinate
(i + 1/2) / f - 1/2: the up-sampler treats a coarse value as the centre of its f x f block. That is
exact for `box_average` coarse-graining; for `subsample` (the paper's protocol, whose coarse value
sits at the block's first fine point) it leaves a shift of (f - 1) / (2 f) coarse cells, which the
residual target absorbs. The up-sampling is done per patch (non-periodic edges), as in the paper.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bicubic_upsample(coarse: torch.Tensor, factor: int) -> torch.Tensor:
    """(..., h, w) -> (..., h * factor, w * factor)."""
    lead, (h, w) = coarse.shape[:-2], coarse.shape[-2:]
    batch = coarse.reshape(-1, 1, h, w)
    fine = F.interpolate(batch, size=(h * factor, w * factor), mode="bicubic", align_corners=False)
    return fine.reshape(*lead, h * factor, w * factor)
