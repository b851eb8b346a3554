"""Atomic checkpoint files, kept outside a rule's declared outputs so a failed job
does not delete them; rerunning an interrupted rule resumes from the last one."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import torch

from advtail.data.arrays import atomic_write_bytes

log = logging.getLogger(__name__)


def atomic_torch_save(payload, path: str | Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename it into place."""
    atomic_write_bytes(path, lambda handle: torch.save(payload, handle))


def code_fingerprint() -> str:
    """sha256 of the advtail package's Python sources.

    Part of every checkpoint's fingerprint: Snakemake reruns a training job when a lib
    module it imports changes, and that rerun must train with the new code, not resume
    (or return) the checkpoint the old code wrote.
    """
    import advtail

    root = Path(advtail.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def fingerprint_of(*parts) -> str:
    """A hash of a run's configuration and code: a checkpoint resumes only the same run."""
    text = json.dumps([code_fingerprint(), *parts], sort_keys=True, default=str)
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
        log.warning("checkpoint %s unreadable (%s); starting afresh", path, err)
        os.replace(path, path.with_suffix(".stale"))
        return None
    if not isinstance(state, dict) or state.get("fingerprint") != fingerprint:
        log.warning(
            "checkpoint %s is of another configuration; set aside as %s",
            path,
            path.with_suffix(".stale").name,
        )
        os.replace(path, path.with_suffix(".stale"))
        return None
    return state
