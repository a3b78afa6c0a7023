"""The sources a stage runs, found from its imports, and their digest.

A stage is run as `python -m <entry module>`. `sources(entry)` follows the entry module's
`import` statements inside the `flex` package (module level and inside functions, absolute and
relative), transitively, together with every package `__init__` that importing a module executes.
`digest(entry)` hashes the names and the code of those files: their syntax trees without
docstrings, so that comments, docstrings and formatting do not count. The workflow gives each
rule the digest of its entry module as a parameter, and a training job's resume key holds the one
of `flex.train`: an edit to the code of a module reruns exactly the stages that import it, while a
`touch`, a fresh clone, a reformatting or an edit to a module no stage imports reruns nothing.
(The syntax tree's text is that of the running Python's `ast` module: the project pins Python
3.11, and the workflow computes every digest in its own process.)

The list is computed from the code, never kept by hand, so a new import cannot be forgotten.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

PACKAGE = "flex"
ROOT = Path(__file__).resolve().parent
"""src/flex: the package whose modules are followed (third-party imports are not)."""


def module_file(name: str, root: Path = ROOT) -> Path | None:
    """The file of module `name` of the package at `root` (`__init__.py` for a package), or None."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = root.joinpath(*parts[1:])
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def imported_names(name: str, path: Path) -> set[str]:
    """Every dotted name that module `name` (at `path`) imports, relative imports resolved.

    `from a import b` yields both `a` and `a.b` (b may be a submodule); names that are not modules
    of the package are dropped by `sources`."""
    tree = ast.parse(path.read_bytes(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                module = ".".join(parts + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


@functools.cache
def sources(entry: str, root: Path = ROOT) -> dict[str, Path]:
    """{module name: file} of everything `python -m entry` executes inside the package."""
    if module_file(entry, root) is None:
        raise ValueError(f"{entry!r} is not a module of the {PACKAGE} package under {root}")
    seen: dict[str, Path] = {}
    pending = [entry]
    while pending:
        parts = pending.pop().split(".")
        for end in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__
            name = ".".join(parts[:end])
            path = module_file(name, root)
            if path is None or name in seen:
                continue
            seen[name] = path
            pending.extend(imported_names(name, path))
    return dict(sorted(seen.items()))


def code_of(path: Path) -> str:
    """The module's syntax tree without docstrings, as text: what the code does, not its layout."""
    tree = ast.parse(path.read_bytes(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, annotate_fields=False, include_attributes=False)


def digest(entry: str, root: Path = ROOT) -> str:
    """SHA-256 (16 hex digits) of the module names and code of `sources(entry)`."""
    hasher = hashlib.sha256()
    for name, path in sources(entry, root).items():
        hasher.update(name.encode() + b"\0" + code_of(path).encode() + b"\0")
    return hasher.hexdigest()[:16]
