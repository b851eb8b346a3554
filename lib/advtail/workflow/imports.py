"""The lib source files a rule's script runs, from the import graph.

Each rule lists these files as inputs, so touching a module reruns exactly the
rules whose scripts import it (transitively) and their descendants. The graph is
read statically with ``ast`` (imports inside functions count too); package
``__init__.py`` files along each module's path are included, because importing
``advtail.data.subsets`` executes ``advtail/__init__.py`` and
``advtail/data/__init__.py`` first.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path


def module_path(module: str, lib_root: Path) -> Path | None:
    """The file of ``module`` under ``lib_root``, or None if it is not there."""
    base = lib_root.joinpath(*module.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def imported_names(path: Path, package: str | None) -> set[str]:
    """Absolute names of every module ``path`` may import (``from a import b`` gives a and a.b)."""
    stat = path.stat()
    # parsed once per file version: every rule's script walks the same modules, and
    # parsing them again for each rule cost a no-op run seconds
    return set(_imported_names(path, package, stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=4096)
def _imported_names(path: Path, package: str | None, mtime_ns: int, size: int) -> frozenset:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if package is None:
                    continue
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{anchor}.{node.module}" if node.module else anchor
            else:
                base = node.module
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return frozenset(names)


def lib_sources(script: str | Path, lib_root: str | Path, top: str = "advtail") -> list[Path]:
    """Sorted files of package ``top`` under ``lib_root`` that ``script`` imports, transitively."""
    lib_root = Path(lib_root)
    found: dict[str, Path] = {}
    pending = [(Path(script), None)]
    while pending:
        path, package = pending.pop()
        for name in imported_names(path, package):
            if name != top and not name.startswith(top + "."):
                continue
            parts = name.split(".")
            # the module itself and every package above it run on import
            for depth in range(1, len(parts) + 1):
                prefix = ".".join(parts[:depth])
                if prefix in found:
                    continue
                file = module_path(prefix, lib_root)
                if file is None:
                    continue  # an attribute imported from a module, not a submodule
                found[prefix] = file
                is_package = file.name == "__init__.py"
                pending.append((file, prefix if is_package else prefix.rpartition(".")[0]))
    return sorted(set(found.values()))


def expose_lib(lib_root: str | Path, environ: dict | None = None) -> str:
    """Put ``lib_root`` first on ``sys.path`` and on the PYTHONPATH jobs inherit.

    Rule scripts (local, conda or cluster jobs) then import ``advtail`` from this
    checkout, whether or not it is installed (``envs/advtail.yaml`` does not install it).
    Returns the new PYTHONPATH.
    """
    import os
    import sys

    environ = os.environ if environ is None else environ
    lib_root = str(lib_root)
    if lib_root not in sys.path:
        sys.path.insert(0, lib_root)
    parts = [p for p in environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != lib_root]
    environ["PYTHONPATH"] = os.pathsep.join([lib_root, *parts])
    return environ["PYTHONPATH"]
