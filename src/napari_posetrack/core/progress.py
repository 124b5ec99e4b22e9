"""Progress events and cancellation for long work.

Long work (training, inference, tracking, rendering) is written as a generator that yields
:class:`ProgressEvent` and checks a :class:`CancelToken`. The command line drains it into a
progress bar with :func:`drain`; the napari docks run it in a ``thread_worker`` and update
widgets from each yielded event. The generator's return value is the result.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Generator, Iterator

__all__ = ["ProgressEvent", "CancelToken", "Cancelled", "drain"]


@dataclass
class ProgressEvent:
    """One step of progress.

    Attributes
    ----------
    stage : str
        What is running, e.g. ``"train"``, ``"validate"``, ``"predict"``, ``"track"``.
    step : int
        Steps done in this stage.
    total : int or None
        Steps in this stage, if known.
    metrics : dict
        Numbers to show (losses, validation metrics, frames/s, ...).
    message : str
        A line for a log.
    """

    stage: str
    step: int = 0
    total: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    message: str = ""


class Cancelled(Exception):
    """Raised inside long work when its :class:`CancelToken` is set (if it chooses to raise)."""


class CancelToken:
    """A thread-safe flag that long work checks between steps."""

    def __init__(self):
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled by the user")

    def __bool__(self) -> bool:  # `if token:` reads as "if cancelled"
        return self.cancelled


def drain(gen: Generator[ProgressEvent, None, Any] | Iterator[ProgressEvent], *, desc: str = "",
          show: bool = True) -> Any:
    """Run a progress generator to the end, showing a tqdm bar per stage; return its result."""
    from tqdm.auto import tqdm

    bars: dict[str, Any] = {}
    runs: dict[str, list] = {}  # stage -> [epoch, steps before it, last step] for stages that report epochs
    result = None
    try:
        while True:
            try:
                ev = next(gen)
            except StopIteration as stop:
                result = stop.value
                break
            if not show or not isinstance(ev, ProgressEvent):
                continue
            bar = bars.get(ev.stage)
            if bar is None:
                bar = bars[ev.stage] = tqdm(total=ev.total, desc=f"{desc} {ev.stage}".strip(), leave=True)
            if ev.metrics and "epoch" in ev.metrics and ev.step is not None:
                # training: one count over all epochs, so the rate is the run's (validation pauses included)
                # and does not start over each epoch; the time budget left is shown when there is one
                run = runs.setdefault(ev.stage, [ev.metrics["epoch"], 0, 0])
                if ev.metrics["epoch"] != run[0]:
                    run[:] = [ev.metrics["epoch"], run[1] + run[2], 0]
                run[2] = ev.step
                bar.total = None
                bar.n = run[1] + ev.step
            else:
                if ev.step is not None and ev.step < bar.n:  # the stage starts over (a new video): new total
                    bar.reset(total=ev.total)
                elif ev.total is not None and bar.total != ev.total:
                    bar.total = ev.total
                bar.n = ev.step
            if ev.metrics:
                bar.set_postfix({k.removesuffix("_s"): _postfix(k, v) for k, v in ev.metrics.items()}, refresh=False)
            bar.refresh()
    finally:
        for bar in bars.values():
            bar.close()
    return result


def _postfix(key: str, value) -> str:
    """A progress-bar value: seconds (keys ending ``_s``) as m:ss, floats to 4 digits."""
    if key.endswith("_s") and isinstance(value, (int, float)):
        m, sec = divmod(int(round(value)), 60)
        return f"{m}:{sec:02d}"
    return f"{value:.4g}" if isinstance(value, float) else value
