"""When a training run stops: its time budget and clock, the epoch limit, early stopping's wait for the
learning-rate decay, and the agreement of data-parallel ranks on all of it (used by :mod:`.trainer`)."""

from __future__ import annotations

import math
import sys
import time

import torch

__all__ = ["Budget", "agree", "annealing_ahead", "epoch_limit", "DEFAULT_EPOCHS", "EARLY_STOP_FROM"]


class Budget:
    """The run's clock (``train.time_clock``), time limit and progress through the budget."""

    def __init__(self, tc, steps_per_epoch: int):
        self.clock = time.process_time if tc.time_clock == "cpu" else time.monotonic
        self.start = self.clock()
        self.seconds = tc.max_minutes * 60
        self.deadline = self.start + self.seconds if self.seconds else math.inf
        self.total_steps = max(1, epoch_limit(tc) * steps_per_epoch)

    def over(self, reserve: float = 0.0) -> bool:
        """Is the time up, keeping ``reserve`` seconds for what follows the last step?"""
        return self.clock() > self.deadline - reserve

    def left(self) -> dict:
        """``{"budget_left_s": seconds}`` with a time limit (shown by the progress bar), else ``{}``."""
        return {"budget_left_s": max(0.0, self.deadline - self.clock())} if self.seconds else {}

    def progress(self, global_step: int) -> float:
        """Fraction of the run done: of the time budget when there is one (the warm-up + cosine schedule
        follows it, or a budget-limited run would stop at an almost untouched learning rate), else of the
        steps of all epochs."""
        return (self.clock() - self.start) / self.seconds if self.seconds else global_step / self.total_steps


def agree(dist, device, progress: float, stop: bool) -> tuple[float, bool]:
    """The largest progress through the budget and any rank's wish to stop, on every rank. Each rank reads its
    own clock, so in a data-parallel job they would otherwise step with different learning rates and stop at
    different steps, and a rank that went on would wait forever in the gradient all-reduce. One process:
    unchanged."""
    if dist.world_size <= 1:
        return progress, bool(stop)
    import torch.distributed as tdist

    t = torch.tensor([float(progress), float(bool(stop))], dtype=torch.float64, device=device)
    tdist.all_reduce(t, op=tdist.ReduceOp.MAX)
    return float(t[0]), bool(t[1] > 0)


#: under a time budget with the cosine schedule, early stopping waits until this share of the budget is spent
EARLY_STOP_FROM = 0.75


def annealing_ahead(tc, budget, global_step: int) -> bool:
    """True while a budgeted cosine run has most of its learning-rate decay ahead: before :data:`EARLY_STOP_FROM`
    of the budget the rate is above 15% of its peak and validation scores swing with it (bottom-up identity on the
    flies stopped at 8 of 20 minutes on such a swing, at 70% of its peak rate, and at 10 minutes when early
    stopping waited for half the budget), so early stopping waits."""
    return bool(budget.seconds) and tc.scheduler == "cosine" and budget.progress(global_step) < EARLY_STOP_FROM


#: ``train.epochs: auto`` without a time budget
DEFAULT_EPOCHS = 100


def epoch_limit(tc) -> int:
    """The run's epoch limit: ``train.epochs``, or for ``auto`` (0) none with a time budget (``max_minutes``: the
    budget or early stopping ends the run; a fixed 100 ended budgeted runs at half their time once steps got
    faster, with the learning rate still high) and :data:`DEFAULT_EPOCHS` without one."""
    if tc.epochs:
        return int(tc.epochs)
    return sys.maxsize if tc.max_minutes else DEFAULT_EPOCHS
