"""NTP-style offset estimation."""

from __future__ import annotations

import pytest

from syncpose.clocksync import estimate_offset


def test_symmetric_probe_gives_the_exact_offset() -> None:
    # host clock = aligner clock - 1000; legs of 50 each way
    assert estimate_offset([(0, 1050, 100)]) == (1000, 100)


def test_least_round_trip_probe_wins() -> None:
    samples = [
        (0, 1400, 500),  # slow return leg: offset estimate off by 150
        (1000, 2060, 1120),  # quick and symmetric: exact
        (2000, 3300, 2400),
    ]
    assert estimate_offset(samples) == (1000, 120)


def test_no_samples() -> None:
    with pytest.raises(ValueError, match="no clock samples"):
        estimate_offset([])
