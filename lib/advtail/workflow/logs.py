"""A rule script's log: everything it prints, warns or logs goes to the rule's log file."""

from __future__ import annotations

import contextlib
import logging
import sys
import traceback
from pathlib import Path

from advtail.errors import AdvtailError


@contextlib.contextmanager
def rule_log(path: str | Path, level: int = logging.INFO):
    """Send stdout, stderr (tqdm progress bars) and ``logging`` to ``path``.

    A user-facing :class:`AdvtailError` is also printed, as one line, on the
    original stderr, so Snakemake's console shows why the job failed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    console = sys.stderr
    with open(path, "a", buffering=1) as handle:
        handler = logging.StreamHandler(handle)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(level)
        try:
            with contextlib.redirect_stdout(handle), contextlib.redirect_stderr(handle):
                try:
                    yield handle
                except AdvtailError as err:
                    print(f"ERROR: {err}", file=handle)
                    print(f"ERROR: {err}", file=console)
                    raise SystemExit(1) from None
                except Exception:
                    traceback.print_exc(file=handle)
                    raise
        finally:
            root.removeHandler(handler)
