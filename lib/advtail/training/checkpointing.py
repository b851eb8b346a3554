"""Checkpoints of interrupted trainings: whose they are, and reading them back.

Checkpoint files live outside a rule's declared outputs (a failed job does not delete
them) and are written atomically (:func:`advtail.nets.files.atomic_torch_save`);
rerunning an interrupted rule resumes from the last one when its fingerprint matches.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import torch

from advtail.errors import one_line

log = logging.getLogger(__name__)


def _package_relative(path: Path) -> str:
    """``.../lib/advtail/nets/files.py`` -> ``advtail/nets/files.py`` (checkout-independent)."""
    parts = path.resolve().parts
    if "advtail" in parts:
        index = len(parts) - 1 - parts[::-1].index("advtail")
        return "/".join(parts[index:])
    return path.name


def code_fingerprint(files) -> str:
    """sha256 of the given source files (names within the package, and contents).

    ``files`` are exactly the lib files the rule lists as inputs (its script's import
    graph): Snakemake reruns the job when one of them changes, and that rerun must train
    with the new code rather than resume the old code's checkpoint. An edit to any other
    module changes neither the job nor its fingerprint, so an interrupted training
    resumes.
    """
    digest = hashlib.sha256()
    for path in sorted((Path(f) for f in files), key=_package_relative):
        digest.update(_package_relative(path).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def fingerprint_of(code_files, *parts) -> str:
    """A hash of a run's code (``code_files``), configuration and data: a checkpoint
    resumes only the same run."""
    text = json.dumps([code_fingerprint(code_files), *parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def load_resume_state(path: str | Path, fingerprint: str) -> dict | None:
    """The checkpoint at ``path`` if it belongs to this run (same ``fingerprint``), else None.

    A checkpoint of another configuration, or one that cannot be read, is set aside
    (renamed ``*.stale``), never deleted, and training starts afresh.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001
        set_aside(path, f"unreadable ({one_line(err)[:300]})")
        return None
    expected = {"fingerprint", "position", "rows", "best", "trainer"}
    if not isinstance(state, dict) or state.get("fingerprint") != fingerprint:
        set_aside(path, "of another configuration or code")
        return None
    if not expected <= set(state):
        set_aside(path, f"missing keys {sorted(expected - set(state))}")
        return None
    return state


def set_aside(path: str | Path, why: str) -> Path:
    """Rename checkpoint ``path`` to the first free ``<stem>.stale``, ``<stem>-2.stale``,
    ... (never overwriting an earlier one) and log why; training then starts afresh."""
    path = Path(path)
    target, n = path.with_suffix(".stale"), 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.stem}-{n}.stale")
    os.replace(path, target)
    log.warning("checkpoint %s is %s; set aside as %s, training starts afresh", path, why, target)
    return target
