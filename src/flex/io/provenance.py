"""Global attributes every output carries: CF conventions, versions, history, resolved config."""

from __future__ import annotations

import datetime as _dt
import json
import shlex
import sys
from importlib import metadata
from typing import Any

from flex import __version__

CONVENTIONS = "CF-1.10"
REFERENCES = (
    "Erichson et al. (2025), FLEX: A Backbone for Diffusion-Based Modeling of Spatio-temporal "
    "Physical Systems, arXiv:2505.17351; Kochkov et al. (2021), Machine learning-accelerated "
    "computational fluid dynamics, PNAS 118, e2101784118 (jax-cfd)"
)
_PACKAGES = ("jax", "jaxlib", "jax-cfd", "torch", "numpy", "xarray", "netCDF4")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that decide the numbers (without importing them)."""
    versions = {"flex": __version__, "python": sys.version.split()[0]}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def history_line(argv: list[str] | None = None) -> str:
    """CF `history`: UTC time stamp and the command that made the file."""
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    command = shlex.join(argv if argv is not None else sys.argv)
    return f"{now}: {command}"


def provenance_attrs(title: str, stage_config: Any, execution: Any = None,
                     **physical: Any) -> dict[str, Any]:  # fmt: skip
    """Global attributes: conventions, title, source (versions), history, references, the job's
    parameters (`config`, JSON) and the execution settings it ran with (`execution`, JSON).

    `physical` holds the physical parameters (reynolds_number, viscosity, ...) stored as plain
    attributes; booleans become 0/1 integers (netCDF has no boolean attribute type).
    """
    versions = package_versions()
    attrs: dict[str, Any] = {
        "Conventions": CONVENTIONS,
        "title": title,
        "institution": "flex-turbulence pipeline",
        "source": "; ".join(f"{k} {v}" for k, v in versions.items()),
        "history": history_line(),
        "references": REFERENCES,
        "config": json.dumps(stage_config, sort_keys=True),
        "execution": json.dumps(execution if execution is not None else {}, sort_keys=True),
    }
    for key, value in physical.items():
        attrs[key] = int(value) if isinstance(value, bool) else value
    return attrs
