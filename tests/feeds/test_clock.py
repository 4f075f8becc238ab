"""The product's clocks (pure: the time sources are the test's own)."""

from __future__ import annotations

import pytest

from feeds.clock import DemoClock, ManualClock, SystemClock, product_clock


class Sources:
    """A machine clock and a monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.ns = 1_790_000_000_000 * 1_000_000
        self.mono = 5_000.0

    def now_ns(self) -> int:
        return self.ns

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.ns += int(seconds * 1e9)
        self.mono += seconds


def test_a_demo_clock_is_the_machines_until_started_then_runs_speed_times_as_fast() -> None:
    src = Sources()
    c = DemoClock(100.0, now_ns=src.now_ns, monotonic=src.monotonic)
    assert not c.started and c.wall() == 1_790_000_000_000
    src.advance(30)  # the backfill: real time
    assert c.wall() == 1_790_000_030_000
    c.start()
    assert c.wall() == 1_790_000_030_000  # no jump at the start
    src.advance(36)
    assert c.wall() == 1_790_000_030_000 + 3_600_000  # 36 s at 100x: an hour
    assert c() == c.wall()


def test_a_demo_clock_starts_once_and_ignores_the_machine_clock_being_set_back() -> None:
    src = Sources()
    c = DemoClock(10.0, now_ns=src.now_ns, monotonic=src.monotonic)
    c.start()
    src.advance(1)
    first = c.wall()
    c.start()  # a second start changes nothing
    assert c.wall() == first
    src.ns -= 3_600 * 10**9  # NTP sets the machine clock back an hour
    src.mono += 0.5
    assert c.wall() == first + 5_000


@pytest.mark.parametrize("speed", [0, -1.0, float("nan")])
def test_a_demo_clock_refuses_a_speed_that_is_not_positive(speed: float) -> None:
    with pytest.raises(ValueError):
        DemoClock(speed)


def test_the_product_runs_on_the_machines_clock_unless_the_demo_is_sped_up() -> None:
    assert isinstance(product_clock(1.0), SystemClock)
    fast = product_clock(100.0)
    assert isinstance(fast, DemoClock) and fast.speed == 100.0
    m = ManualClock(5)
    m.advance(3)
    assert m.wall() == m() == 8
