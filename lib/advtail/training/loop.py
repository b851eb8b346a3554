"""The one training loop every trainer runs: resume, checkpoint cadence, the kept
(best) model, progress, a guard against non-finite losses, and the ``log.csv`` rows.

A trainer supplies only what differs (its unit of work and its state), through the
:class:`Trainable` protocol: the classifier trainer's unit is an epoch, the GAN
trainer's a generator step. The loop owns everything else, so a new method (PGD-AT,
REAT, Rob-GAN, ...) changes a step function and never copies the loop.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch

from advtail.errors import AdvtailError, one_line
from advtail.nets.files import atomic_torch_save
from advtail.training.checkpointing import load_resume_state, set_aside

log = logging.getLogger(__name__)


class DivergenceError(AdvtailError):
    """A loss became NaN or infinite; training stops and the last checkpoint is kept."""


def check_finite(loss: torch.Tensor, what: str, unit: str, position: int) -> None:
    """Raise :class:`DivergenceError` (one line) before a non-finite ``loss`` is stepped."""
    if not torch.isfinite(loss):
        raise DivergenceError(
            f"{what} loss became {loss.item()} in {unit} {position + 1}; training stopped, "
            "the last checkpoint is kept (lower the learning rate, or lambda, and rerun)"
        )


class Trainable(Protocol):
    """What a trainer gives the loop."""

    unit: str  # "epoch" or "step": the log.csv column and the progress bar's unit
    progress_keys: tuple[str, ...]  # row entries shown on the progress bar

    def train_unit(self, position: int) -> dict:
        """Train unit ``position`` (0-based); return its row of numbers."""

    def validate(self, done: int) -> tuple[float, dict] | None:
        """(score, row entries) after ``done`` units, or None when there is nothing to score."""

    def kept_model(self) -> torch.nn.Module:
        """The network whose weights are kept when a validation score is the best."""

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


@dataclass
class LoopPlan:
    """How long to train and how often to log, validate and checkpoint.

    ``higher_is_better``: the direction of the validation score. A score at least as
    good as the best so far replaces it, so of equal scores the later model is kept.
    """

    total: int
    log_every: int = 1
    checkpoint_every: int = 1
    validate_every: int | None = 1
    higher_is_better: bool = True


@dataclass
class TrainingRun:
    """What a loop did: units done, log rows, the kept model, where it resumed from."""

    position: int = 0
    rows: list = field(default_factory=list)
    best: dict = field(default_factory=lambda: {"score": None, "position": 0, "model": None})
    resumed_from: int = 0

    @property
    def selected(self) -> int:
        """The unit whose model is kept: the best validated one, else the last."""
        return self.best["position"] or self.position

    def improves(self, score: float, higher_is_better: bool) -> bool:
        old = self.best["score"]
        if old is None:
            return True
        return score >= old if higher_is_better else score <= old


def _every(value: int | None, total: int) -> int:
    return value or total


def _resumed(trainer: Trainable, state: dict, checkpoint_path) -> bool:
    """Load the checkpoint's trainer state; one that does not fit this trainer (tensors
    of other shapes, missing keys) is set aside and the trainer restored to its fresh
    state, so the run starts afresh instead of failing on every rerun."""
    fresh = copy.deepcopy(trainer.state_dict())
    try:
        trainer.load_state_dict(state["trainer"])
    except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as err:
        trainer.load_state_dict(fresh)
        set_aside(checkpoint_path, f"not this trainer's ({one_line(err)[:300]})")
        return False
    return True


def describe_row(row: dict, keys) -> str:
    """The progress keys and validation metrics of a log row, as ``key=value`` pairs."""
    shown = [k for k in row if k in keys or k.startswith("val_")]
    return " ".join(
        f"{k}={row[k]:.4g}" if isinstance(row[k], float) else f"{k}={row[k]}" for k in shown
    )


def run_loop(
    trainer: Trainable,
    plan: LoopPlan,
    checkpoint_path: str | Path,
    fingerprint: str,
    on_unit_end=None,
) -> TrainingRun:
    """Train ``plan.total`` units, resuming from ``checkpoint_path`` when it is this run's.

    The checkpoint (atomic, written every ``checkpoint_every`` units and at the end) holds
    the trainer's state and the loop's, so a resumed run ends with the weights of an
    uninterrupted one. ``on_unit_end(position, row)`` runs after each unit's checkpoint.
    Each logged row gets the unit count and ``seconds``: training time, continued across
    resumes (the wall-time axis of learning curves).
    """
    state = load_resume_state(checkpoint_path, fingerprint)
    run = TrainingRun()
    if state is not None and _resumed(trainer, state, checkpoint_path):
        run = TrainingRun(state["position"], state["rows"], state["best"], state["position"])
        log.info(
            "resuming from %s after %s %d of %d",
            checkpoint_path,
            trainer.unit,
            run.position,
            plan.total,
        )
    total = plan.total
    log_every, checkpoint_every = (
        _every(plan.log_every, total),
        _every(plan.checkpoint_every, total),
    )
    validate_every = plan.validate_every
    began = time.perf_counter() - (run.rows[-1]["seconds"] if run.rows else 0.0)
    started_at, timer = run.position, time.perf_counter()
    for position in range(run.position, total):
        row = trainer.train_unit(position)
        run.position = position + 1
        last = run.position == total
        validated = improved = False
        if validate_every and run.position % validate_every == 0:
            result = trainer.validate(run.position)
            validated = result is not None
            if result is not None:
                score, metrics = result
                row.update(metrics)
                improved = run.improves(score, plan.higher_is_better)
                if improved:
                    state_dict = trainer.kept_model().state_dict()
                    run.best = {
                        "score": float(score),
                        "position": run.position,
                        "model": {k: v.detach().cpu().clone() for k, v in state_dict.items()},
                    }
        # a validation's row is always kept, on a logging step or not
        if run.position % log_every == 0 or last or validated:
            row = {trainer.unit: run.position, **row, "seconds": time.perf_counter() - began}
            run.rows.append(row)
            # one plain line per logged unit (no progress bar: logs are read in a pager);
            # the whole row is in log.csv
            done_here = run.position - started_at
            left = (time.perf_counter() - timer) / done_here * (total - run.position)
            log.info(
                "%s %d/%d (%.0f s, ~%.0f s left): %s%s",
                trainer.unit,
                run.position,
                total,
                row["seconds"],
                left,
                describe_row(row, trainer.progress_keys),
                " [best so far, kept]" if improved else "",
            )
        if run.position % checkpoint_every == 0 or last:
            atomic_torch_save(
                {
                    "fingerprint": fingerprint,
                    "position": run.position,
                    "rows": run.rows,
                    "best": run.best,
                    "trainer": trainer.state_dict(),
                },
                checkpoint_path,
            )
        if on_unit_end is not None:
            on_unit_end(position, row)
    return run
