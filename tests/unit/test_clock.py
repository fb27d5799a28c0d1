"""Clock helpers."""

from __future__ import annotations

import pytest

from syncpose.clock import FakeClock, MonotonicClock, ms_to_ns, period_ns, timed_grab


def test_fake_clock_moves_only_when_told() -> None:
    c = FakeClock(100)
    assert c.now_ns() == 100
    c.sleep_until_ns(50)  # in the past: no change
    assert c.now_ns() == 100
    c.sleep_until_ns(250)
    assert c.advance(10) == 260
    with pytest.raises(ValueError, match="monotonic"):
        c.advance(-1)


def test_timed_grab_stamps_the_midpoint() -> None:
    c = FakeClock(1000)

    def grab() -> str:
        c.advance(400)
        return "frame"

    result, t = timed_grab(c, grab)
    assert result == "frame" and t == 1200


def test_monotonic_sleep_until_is_accurate() -> None:
    c = MonotonicClock()
    target = c.now_ns() + ms_to_ns(5)
    c.sleep_until_ns(target)
    late = c.now_ns() - target
    assert late >= 0  # never early
    assert late < ms_to_ns(20)  # on time, give or take a busy scheduler


def test_period() -> None:
    assert period_ns(30) == 33_333_333
    assert period_ns(30000 / 1001) == 33_366_667
    with pytest.raises(ValueError, match="positive"):
        period_ns(0)
