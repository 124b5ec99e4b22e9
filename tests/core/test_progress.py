"""The command-line progress bars."""

import io

import tqdm.auto

from napari_posetrack.core.progress import ProgressEvent, drain


def test_progress_bar_rate_restarts_each_epoch(monkeypatch):
    """Per-step bars that start over each epoch reset their clock (no stale 's/it' and ETA)."""
    resets = []

    class Bar(tqdm.auto.tqdm):
        def __init__(self, *a, **k):
            super().__init__(*a, file=io.StringIO(), **k)

        def reset(self, total=None):
            resets.append((self.n, total))
            return super().reset(total=total)

    monkeypatch.setattr(tqdm.auto, "tqdm", Bar)

    def gen():
        for _epoch in range(3):
            for step in range(1, 5):
                yield ProgressEvent("train", step, 4)
        return "done"

    assert drain(gen()) == "done"
    assert resets == [(4, 4), (4, 4)]  # once at the start of epochs 2 and 3


def test_training_bar_counts_over_all_epochs_and_shows_the_budget_left(monkeypatch):
    """Training steps (events with an epoch) make one count for the run: its rate and the time budget left do
    not start over each epoch (the old bar showed "38:28 remaining, 27 s/it" at every epoch start)."""
    bars = []

    class Bar(tqdm.auto.tqdm):
        def __init__(self, *a, **k):
            super().__init__(*a, file=io.StringIO(), **k)
            bars.append(self)

        def reset(self, total=None):
            raise AssertionError("a training bar must not restart")

    monkeypatch.setattr(tqdm.auto, "tqdm", Bar)
    seen = []

    def gen():
        left = 600.0
        for epoch in (1, 2, 3):
            for step in range(1, 5):
                left -= 7.0
                yield ProgressEvent("train", step, 4, {"epoch": epoch, "loss": 0.5, "budget_left_s": left})
                seen.append(bars[0].n)
        return "done"

    assert drain(gen()) == "done"
    assert seen == list(range(1, 13)) and bars[0].total is None  # counted on, never back to 0
    text = bars[0].fp.getvalue()
    assert "budget_left=8:36" in text and "epoch=3" in text  # 600 - 12 x 7 = 516 s
