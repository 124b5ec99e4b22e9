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
