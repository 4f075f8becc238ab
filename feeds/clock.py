"""The product's clock: one object every part reads the present from.

In production that is the machine's clock. Tests and replays drive a :class:`ManualClock`. The
accelerated demo (``Product(demo_speed=100)``, the screens' soak) runs on a :class:`DemoClock`:
the simulator emits a simulated day in 14.4 minutes, and unless the ingest's received time, the
engine's deadlines and the screens' "today", countdowns and fading markers read the same
accelerated time, the wall shows reports from hours in its future that never fade.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


class Clock(Protocol):
    def wall(self) -> int: ...


class SystemClock:
    """The machine's clock, ms since the epoch."""

    def wall(self) -> int:
        return time.time_ns() // 1_000_000

    __call__ = wall


@dataclass
class ManualClock:
    """A clock tests and replays drive by hand."""

    t: int

    def wall(self) -> int:
        return self.t

    def __call__(self) -> int:
        return self.t

    def set(self, t: int) -> None:
        self.t = t

    def advance(self, ms: int) -> None:
        self.t += ms


@dataclass
class DemoClock:
    """The machine's clock until :meth:`start`, then ``speed`` times as fast from that instant on.

    It never goes back and never jumps: at ``start`` it reads what the machine's clock reads, so
    a backfill that ran before (in real time) and the live part after it join without a seam.
    ``now_ns`` and ``monotonic`` are the sources (the machine's, unless a test passes its own).
    """

    speed: float
    now_ns: Callable[[], int] = time.time_ns
    monotonic: Callable[[], float] = time.monotonic
    _anchor: tuple[int, float] | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ValueError(f"demo speed must be positive, not {self.speed!r}")

    @property
    def started(self) -> bool:
        return self._anchor is not None

    def start(self) -> None:
        """Time runs ``speed`` × from now on (a second call changes nothing)."""
        with self._lock:
            if self._anchor is None:
                self._anchor = (self.now_ns() // 1_000_000, self.monotonic())

    def wall(self) -> int:
        anchor = self._anchor  # one read: a tuple set once
        if anchor is None:
            return self.now_ns() // 1_000_000
        return anchor[0] + int((self.monotonic() - anchor[1]) * 1000 * self.speed)

    __call__ = wall


def product_clock(demo_speed: float = 1.0) -> SystemClock | DemoClock:
    """The clock of a product whose demo runs at ``demo_speed`` × real time (1: the machine's)."""
    return SystemClock() if demo_speed == 1.0 else DemoClock(demo_speed)
