"""A rule script's log: everything it prints, warns or logs goes to the rule's log file.

Logs are plain lines (no progress bars with carriage returns), so they read cleanly in a
pager; long loops log their progress with :func:`logged_progress`. A finished job's
headline (its kept model's validation number, a sample metric) goes through
:func:`announce` to the log and, as one line, to Snakemake's console.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
import traceback
from collections.abc import Iterable, Iterator
from pathlib import Path

from advtail.errors import AdvtailError

HEADLINE = logging.getLogger("advtail.headline")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def announce(message: str, *args) -> None:
    """A finished job's headline: in its log, and one line on the console under a rule."""
    HEADLINE.info(message, *args)


def logged_progress(
    items: Iterable, what: str, total: int | None = None, every_s: float = 30.0
) -> Iterator:
    """Yield ``items``, logging ``what: i/total`` with the time left at most every
    ``every_s`` seconds and at the end (a plain line, where a progress bar would write
    carriage returns into the log)."""
    logger = logging.getLogger("advtail.progress")
    total = len(items) if total is None else total
    began = last = time.perf_counter()
    done = 0
    for done, item in enumerate(items, 1):
        yield item
        now = time.perf_counter()
        if now - last >= every_s or done == total:
            left = (now - began) / done * (total - done)
            logger.info("%s: %d/%d (%.0f s, ~%.0f s left)", what, done, total, now - began, left)
            last = now


def peak_memory_mib() -> float:
    """The largest resident memory of this process so far, in MiB (Linux reports KiB,
    macOS bytes)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


@contextlib.contextmanager
def rule_log(path: str | Path, level: int = logging.INFO):
    """Send stdout, stderr and ``logging`` to ``path``.

    A user-facing :class:`AdvtailError` is also printed, as one line, on the
    original stderr, so Snakemake's console shows why the job failed. A job that ends
    well logs its wall time last, so no log is empty.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    console = sys.stderr
    with open(path, "a", buffering=1) as handle:
        handler = logging.StreamHandler(handle)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(level)
        # the headline also goes to the console, where Snakemake shows it under the job
        headline = logging.StreamHandler(console)
        headline.setFormatter(logging.Formatter("advtail | %(message)s"))
        HEADLINE.addHandler(headline)
        began = time.perf_counter()
        try:
            with contextlib.redirect_stdout(handle), contextlib.redirect_stderr(handle):
                try:
                    yield handle
                    logging.getLogger("advtail.job").info(
                        "finished in %.1f s, peak memory %.0f MiB",
                        time.perf_counter() - began,
                        peak_memory_mib(),
                    )
                except AdvtailError as err:
                    print(f"ERROR: {err}", file=handle)
                    print(f"ERROR: {err}", file=console)
                    raise SystemExit(1) from None
                except Exception:
                    traceback.print_exc(file=handle)
                    raise
        finally:
            root.removeHandler(handler)
            HEADLINE.removeHandler(headline)
