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


def test_a_probe_flood_is_answered_in_bounded_turns_and_rate_limited_per_peer() -> None:
    """A flood from one peer never holds the aligner's loop for more than ``max_messages``
    probes per turn, that peer gets its burst and then its rate, and another peer is still
    answered."""
    import time
    from typing import Any

    import zmq

    from syncpose.clock import FakeClock
    from syncpose.clocksync import ProbeLimiter, answer_clock_requests
    from syncpose.messages import ClockRequest, Decoder, encode

    ctx: zmq.Context[Any] = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    router.bind("inproc://probe-flood")
    flooder, polite = ctx.socket(zmq.DEALER), ctx.socket(zmq.DEALER)
    for sock in (flooder, polite):
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect("inproc://probe-flood")
    clock = FakeClock(10**9)
    limiter = ProbeLimiter(rate=16.0, burst=32.0)
    try:
        for k in range(1000):
            flooder.send_multipart(encode(ClockRequest(host="flood", t0_ns=k)))
        deadline = time.monotonic() + 10.0
        while not router.poll(0) and time.monotonic() < deadline:
            time.sleep(0.01)
        first = answer_clock_requests(router, clock, Decoder(), limiter, max_messages=64)
        assert 0 < first <= 32  # one turn: at most 64 taken, at most the burst answered
        answered = first
        for _ in range(40):  # no time passes: no more tokens
            answered += answer_clock_requests(router, clock, Decoder(), limiter, max_messages=64)
        assert answered == 32 and limiter.refused == 1000 - 32
        polite.send_multipart(encode(ClockRequest(host="polite", t0_ns=7)))
        while not router.poll(0) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert answer_clock_requests(router, clock, Decoder(), limiter) == 1
        assert polite.poll(2000)
        clock.advance(10**9)  # a second later the flooder has ``rate`` probes again
        for k in range(100):
            flooder.send_multipart(encode(ClockRequest(host="flood", t0_ns=k)))
        while not router.poll(0) and time.monotonic() < deadline:
            time.sleep(0.01)
        again = sum(answer_clock_requests(router, clock, Decoder(), limiter) for _ in range(5))
        assert again == 16
    finally:
        for sock in (router, flooder, polite):
            sock.close(0)
        ctx.term()
