"""What a training job may resume from: only state made by the same job, code and data.

The job keeps two files for itself beside its outputs: `checkpoint.pt` (the whole state every
`execution.train.checkpoint_every` steps) and `best_candidate.pt` (the EMA weights with the best
validation loss so far). Both carry the job's resume key,

    key = SHA-256(job parameters (the number of ranks among them), digest of the training code
          (flex.sources), and for every input file its name, size and global attributes
          (provenance: config, history, versions); for the model file a fine-tuned job starts
          from, its SHA-256),

so a change of the settings, of the code or of any input it trains on (a regenerated simulation,
another coarsening method) starts the job afresh, and says so. Anything else in those places (a
file of another key, a damaged or truncated file) is reported by name and removed, never resumed.
Hashing the attributes rather than the contents keeps this cheap for 75 GB inputs; every stage
writes its history time stamp and configuration there, so a regenerated file always differs.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import netCDF4
import torch

from flex import sources
from flex.config import TrainJob, to_dict
from flex.errors import StageFailure
from flex.models import checkpoint

log = logging.getLogger(__name__)

TRAIN_ENTRY = "flex.train.__main__"
"""The module the train rule runs: its sources' digest is part of the resume key."""


def input_fingerprint(path: Path) -> dict[str, Any]:
    """Name, size and global attributes of an input file (NetCDF) as JSON-able values; for a
    model file (`.pt`, the weights a fine-tuned job starts from) its SHA-256 instead."""
    if path.suffix == ".pt":
        with open(path, "rb") as handle:
            sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
        return {"name": str(path), "size": path.stat().st_size, "sha256": sha256}
    try:
        with netCDF4.Dataset(path) as ds:
            attrs = {key: str(ds.getncattr(key)) for key in ds.ncattrs()}
    except OSError as error:
        raise StageFailure(f"cannot read input file {path} ({error}); it is truncated or not "
                           "NetCDF: delete it and rerun the stage that makes it") from None  # fmt: skip
    return {"name": str(path), "size": path.stat().st_size, "attrs": attrs}


def resume_key(job: TrainJob, inputs: list[Path]) -> str:
    hasher = hashlib.sha256(json.dumps(to_dict(job), sort_keys=True).encode())
    hasher.update(sources.digest(TRAIN_ENTRY).encode())
    for path in sorted(inputs):
        hasher.update(json.dumps(input_fingerprint(Path(path)), sort_keys=True).encode())
    return hasher.hexdigest()[:16]


def load_own(path: Path, key: str, device: torch.device) -> dict[str, Any] | None:
    """The state saved at `path` if it was made with `key`; otherwise None, with the file removed
    and the reason logged (another configuration, code or data; a damaged file)."""
    if not path.exists():
        return None
    try:
        state = checkpoint.load(path, device)
    except Exception as error:  # a truncated or foreign file: torch's errors vary
        cause = error.__cause__ or error
        log.warning("ignoring damaged %s (%s: %s); starting afresh", path, type(cause).__name__,
                    str(cause).splitlines()[0] if str(cause) else "")  # fmt: skip
        path.unlink()
        return None
    if state.get("resume_key") != key:
        log.info("ignoring %s: it was made with other settings, code or input data; starting "
                 "afresh", path)  # fmt: skip
        path.unlink()
        return None
    return state
