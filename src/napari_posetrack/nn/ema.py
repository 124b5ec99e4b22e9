"""Averaged weights: an exponential moving average (EMA) of a model's weights over the training steps.

The weights at any one step of a short, high learning-rate run carry that step's noise; their running
average sits nearer the middle of where the last few hundred steps went. Validation, the saved
checkpoints and prediction all use the average; the optimizer keeps stepping the raw weights.
"""

from __future__ import annotations

import contextlib

import torch

__all__ = ["WeightAverage"]


class WeightAverage:
    """Running average of every floating-point tensor of ``model.state_dict()`` (weights and norm statistics).

    ``decay`` is the weight of the old average per step (0.998: about the last 500 steps count). Early on the
    decay is lower (``(1 + n) / (10 + n)`` after ``n`` steps), so the average does not drag the random
    initial weights along.
    """

    def __init__(self, model: torch.nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        self.steps = 0
        self.names = [k for k, v in model.state_dict().items() if v.is_floating_point()]
        state = model.state_dict()
        self.shadow = [state[k].detach().clone() for k in self.names]

    def _live(self, model) -> list:
        state = model.state_dict()
        return [state[k].detach() for k in self.names]

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        """Fold the model's current weights into the average (call after each optimizer step)."""
        self.steps += 1
        d = min(self.decay, (1.0 + self.steps) / (10.0 + self.steps))
        torch._foreach_lerp_(self.shadow, self._live(model), 1.0 - d)

    @torch.no_grad()
    def copy_to(self, model: torch.nn.Module) -> None:
        """Put the averaged weights into the model for good (at the end of training)."""
        torch._foreach_copy_(self._live(model), self.shadow)

    @contextlib.contextmanager
    def applied(self, model: torch.nn.Module):
        """Within the block the model holds the averaged weights; the raw ones come back after it."""
        live = self._live(model)
        raw = [t.clone() for t in live]
        with torch.no_grad():
            torch._foreach_copy_(live, self.shadow)
        try:
            yield model
        finally:
            with torch.no_grad():
                torch._foreach_copy_(live, raw)
