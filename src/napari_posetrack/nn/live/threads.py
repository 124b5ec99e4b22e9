"""How many CPU threads a live frame gets: fixed, or picked by measuring (``threads="auto"``).

On a machine with few cores, more intra-op threads are faster only while the cores are free.
Each network operator splits its work between the threads and waits for the slowest, so when
another process (or the frame grabber, or the viewer) takes one of two cores, two threads wait
for the one that is not running: measured on this project's 2-core machine while training runs
of other developers kept it busy, two threads made a frame 3-6x slower than one (docs/live.md).
Which count is faster depends on what else runs, and that changes during a session, so
:class:`ThreadTuner` measures it on the live frames themselves:

* the first frames alternate between the candidate counts (``warm`` frames each; a count whose
  fastest frame is more than 5x as slow as another's gets no more of them: under load two threads
  took 24-33x as long, while a cold first frame can take 4-5x);
* then the fastest runs every frame, by the mean time of its last ``window`` frames without the
  slowest one (frequent slow frames count, as when the grabber's decoding takes a core from two
  threads, but one spike does not); every ``probe_every`` frames one frame tries another count,
  so that a change of load is noticed;
* it switches only when the other count's time is ``margin`` faster than the current one's;
* after a switch the count it left is probed again sooner (after ``probe_every / 10`` frames,
  then twice as long each time, up to ``probe_every``): a burst of load a few frames long
  makes it switch, and this brings it back within a few dozen frames once the burst is over.

Probing costs one frame in ``probe_every`` (0.5% at the default 200) at the other count's speed,
so it stays out of a p99; the price is that a count that became faster after a long busy spell
is noticed only after ``window - 1`` probes (800 frames, 32 s at 25 frames/s), while a count
that became slower is left within a few frames (its own window fills at once).
"""

from __future__ import annotations

import os
from collections import deque

import numpy as np

from ...core.errors import ConfigError

__all__ = ["AUTO", "ThreadTuner", "thread_candidates", "usable_cores", "parse_threads"]

#: the ``threads`` value that asks for the measured choice
AUTO = "auto"


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def thread_candidates(cores: int | None = None, most: int = 4) -> list[int]:
    """Thread counts the tuner compares: 1 and the usable cores (at most ``most``; batch-1 networks
    this small gain little beyond a few threads, and the grabber needs a core)."""
    top = max(1, min(int(cores or usable_cores()), int(most)))
    return sorted({1, top})


def parse_threads(value) -> int | str:
    """``None``/``"auto"`` -> ``"auto"``; a whole number >= 1 -> int; anything else is refused."""
    if value is None or (isinstance(value, str) and value.strip().lower() == AUTO):
        return AUTO
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 0
    if isinstance(value, float) and value != int(value):
        n = 0
    if n < 1:
        raise ConfigError(f"threads should be 'auto' or a whole number of at least 1, got {value!r}.",
                          hint="Pass --threads auto (measure, the default), or --threads 1, 2, ...")
    return n


class ThreadTuner:
    """Pick the thread count of each frame from the measured frame times.

    Parameters
    ----------
    candidates : list of int
        Thread counts to compare (see :func:`thread_candidates`).
    apply : callable(int)
        Sets the thread count (torch and onnxruntime); called only when it changes.
    warm : int
        Frames per candidate at the start, alternating.
    window : int
        Recent frames per candidate whose mean (without the slowest) is compared.
    probe_every : int
        Frames between two probes of another candidate, after the start.
    margin : float
        Relative gain needed to switch (0.1: the other count must be 10% faster).
    """

    def __init__(self, candidates, apply, *, warm: int = 4, window: int = 5, probe_every: int = 200,
                 margin: float = 0.1):
        self.candidates = sorted({int(c) for c in candidates})
        if not self.candidates or self.candidates[0] < 1:
            raise ConfigError(f"Thread candidates should be whole numbers >= 1, got {list(candidates)}.",
                              hint="Use thread_candidates().")
        self.apply = apply
        self.warm, self.probe_every, self.margin = int(warm), max(2, int(probe_every)), float(margin)
        self.times = {c: deque(maxlen=int(window)) for c in self.candidates}
        self.best = self.candidates[-1]
        self.current = None
        self.n_frames = 0
        self._next_probe = 0
        self._probe_turn = -1
        self._gap = self.probe_every  # frames between probes (shorter after a switch)
        self._warming = len(self.candidates) > 1
        self._dropped: set = set()  # counts left out of the start: more than 5x as slow as another
        #: frames run at each count, and every switch of the best count (frame, from, to)
        self.counts = {c: 0 for c in self.candidates}
        self.switches: list[tuple[int, int, int]] = []

    def _set(self, n: int) -> int:
        if n != self.current:
            self.apply(n)
            self.current = n
        return n

    def time_ms(self, n: int) -> float:
        """What is compared: the mean of the last frames at ``n`` threads without the slowest one."""
        t = sorted(self.times[n])
        if not t:
            return float("nan")
        return float(np.mean(t[:-1] if len(t) >= 3 else t))

    def before_frame(self) -> int:
        """The thread count of the next frame (applied)."""
        i, k = self.n_frames, len(self.candidates)
        if k == 1:
            return self._set(self.candidates[0])
        if self._warming:  # start: alternate between the counts still in the running
            todo = [c for c in self.candidates if c not in self._dropped and self.counts[c] < self.warm]
            least = min(self.counts[c] for c in todo)
            return self._set(next(c for c in todo if self.counts[c] == least))
        if i >= self._next_probe:  # one frame on another count, in turn
            others = [c for c in self.candidates if c != self.best]
            self._probe_turn += 1
            self._gap = min(self.probe_every, 2 * self._gap)
            self._next_probe = i + self._gap
            return self._set(others[self._probe_turn % len(others)])
        return self._set(self.best)

    def after_frame(self, ms: float) -> None:
        """Record the time of the frame just run (at :attr:`current` threads) and update the choice."""
        n = self.current
        self.times[n].append(float(ms))
        self.counts[n] += 1
        self.n_frames += 1
        if len(self.candidates) == 1:
            return
        if self._warming:
            # a count more than 5x as slow as another gets no more start frames (under load, two threads
            # can take 20x as long: four of those frames would cost seconds)
            quickest = {c: min(self.times[c]) for c in self.candidates if self.times[c]}
            for c, t in quickest.items():
                if any(t > 5.0 * o for d, o in quickest.items() if d != c):
                    self._dropped.add(c)
            if any(c not in self._dropped and self.counts[c] < self.warm for c in self.candidates):
                return
            self._warming = False
        meds = {c: self.time_ms(c) for c in self.candidates if self.times[c]}
        fastest = min(meds, key=meds.get)
        if self._next_probe == 0:  # end of the start: the fastest, and the first probe later
            self.best = fastest
            self._next_probe = self.n_frames + self.probe_every
        elif fastest != self.best and meds[fastest] < (1.0 - self.margin) * meds[self.best]:
            self.switches.append((self.n_frames, self.best, fastest))
            self.best = fastest
            self._gap = max(1, self.probe_every // 20)  # doubled at the next probe: probe_every / 10
            self._next_probe = self.n_frames + 2 * self._gap

    def summary(self) -> str:
        parts = ", ".join(f"{c} thread{'s' if c > 1 else ''}: {self.counts[c]} frames (recent "
                          f"{self.time_ms(c):.1f} ms)" for c in self.candidates)
        return f"threads auto, now {self.best}; {parts}; {len(self.switches)} switch(es)"
